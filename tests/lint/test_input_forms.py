"""Real-world input through the CLI: syntax errors, templates, psql scripts, COPY data, BOMs.

Each case is a real file (or stdin) linted by ``expandctl lint``; the exit code
and the findings' codes and lines are what a CI gate sees. The engine half:
a phase file with psql commands is refused before anything runs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from expandctl.cli.app import cli
from expandctl.commands.advance import advance
from expandctl.errors import ManifestError
from expandctl.loader.migrations import load_migration
from expandctl.model.phases import Phase
from expandctl.model.planning import plan_phase
from expandctl.model.sql_split import split_script
from tests.conftest import PgDatabase
from tests.engine.conftest import Project


def _lint(
    tmp_path: Path, *args: str, stdin: str | None = None, config: str = ""
) -> tuple[int, dict[str, Any]]:
    (tmp_path / "expandctl.toml").write_text(config, encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["--config", str(tmp_path / "expandctl.toml"), "lint", "--format", "json", *args],
        input=stdin,
        catch_exceptions=False,
    )
    return result.exit_code, json.loads(result.output)


def _codes(report: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(f["rule_id"], f["line"], f["column"]) for f in report["findings"]]


def _file(tmp_path: Path, name: str, text: str, *, bom: bool = False) -> str:
    path = tmp_path / name
    path.write_text(("\ufeff" if bom else "") + textwrap.dedent(text), encoding="utf-8")
    return str(path)


# --- syntax errors ------------------------------------------------------------


def test_syntax_errors_fail_the_gate_with_postgres_message_at_their_position(
    tmp_path: Path,
) -> None:
    bad = _file(
        tmp_path,
        "bad.sql",
        """\
        ALTER TABLE users ADD COLUMN nickname text;
        ALTER TABEL users ADD COLUMN age int;
        SELECT id,
               name
          FORM users;
        SELEC 1;
        """,
    )
    code, report = _lint(tmp_path, bad)
    assert code == 1
    assert _codes(report) == [("I701", 2, 7), ("I701", 5, 8), ("I701", 6, 1)]
    messages = [f["message"] for f in report["findings"]]
    assert 'syntax error at or near "TABEL"' in messages[0]
    assert 'syntax error at or near "users"' in messages[1]
    assert report["findings"][1]["source_line"] == "  FORM users;"
    assert report["summary"]["errors"] == 3


def test_the_same_file_spelt_right_passes(tmp_path: Path) -> None:
    good = _file(
        tmp_path,
        "good.sql",
        """\
        ALTER TABLE users ADD COLUMN nickname text;
        ALTER TABLE users ADD COLUMN age int;
        SELECT id, name FROM users;
        SELECT 1;
        """,
    )
    assert _lint(tmp_path, good) == (0, _lint(tmp_path, good)[1])
    assert _lint(tmp_path, good)[1]["findings"] == []


def test_a_syntax_error_on_stdin_fails_the_gate(tmp_path: Path) -> None:
    code, report = _lint(tmp_path, "-", stdin="SELECT 1;\nDELETE users WHERE id = 1;\n")
    assert code == 1
    assert _codes(report) == [("I701", 2, 8)]


def test_statements_postgres_accepts_but_the_reader_cannot_analyse_stay_warnings(
    tmp_path: Path,
) -> None:
    sql = _file(tmp_path, "acl.sql", "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r;\n")
    code, report = _lint(tmp_path, sql)
    assert (code, _codes(report)) == (0, [("U501", 1, 1)])


def test_syntax_only_an_older_target_had_is_unverified_not_an_error(tmp_path: Path) -> None:
    sql = _file(tmp_path, "oids.sql", "CREATE TABLE legacy (id int) WITH OIDS;\n")
    code, report = _lint(tmp_path, "--pg-version", "11", sql)
    assert (code, [c for c, _, _ in _codes(report)]) == (0, ["U503"])
    code, report = _lint(tmp_path, "--pg-version", "15", sql)
    assert (code, [c for c, _, _ in _codes(report)]) == (1, ["I701"])


def test_a_syntax_error_can_be_suppressed_like_any_finding(tmp_path: Path) -> None:
    sql = _file(
        tmp_path,
        "s.sql",
        "-- expandctl-ignore: I701 extension grammar, checked on staging\nFROBNICATE users;\n",
    )
    code, report = _lint(tmp_path, sql)
    assert (code, report["findings"], report["summary"]["suppressed"]) == (0, [], 1)


def test_a_syntax_error_in_a_phase_file_points_into_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "migrations" / "0001_users"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text('description = "x"\n', encoding="utf-8")
    (folder / "expand.sql").write_text("CREATE TABLE users (id int);\nCREAT INDEX;\n")
    (folder / "expand.down.sql").write_text("DROP TABLE users;\n", encoding="utf-8")
    code, report = _lint(tmp_path, str(folder))
    assert code == 1
    [finding] = report["findings"]
    assert (finding["rule_id"], finding["line"], finding["column"]) == ("I701", 2, 1)
    assert finding["path"].endswith("expand.sql")


# --- templates -----------------------------------------------------------------


def test_a_template_is_one_error_not_a_cascade(tmp_path: Path) -> None:
    sql = _file(
        tmp_path,
        "model.sql",
        """\
        {% for t in tables %}
        ALTER TABLE {{ schema }}.{{ t }} ADD COLUMN nickname text;
        {% endfor %}
        CREATE INDEX CONCURRENTLY users_email_idx ON ${schema}.users (email);
        """,
    )
    code, report = _lint(tmp_path, sql)
    assert code == 1
    assert _codes(report) == [("I702", 1, 1)]
    assert "not SQL: this file contains template placeholders" in report["findings"][0]["message"]


def test_the_rendered_template_passes(tmp_path: Path) -> None:
    sql = _file(
        tmp_path,
        "model.sql",
        """\
        ALTER TABLE app.users ADD COLUMN nickname text;
        CREATE INDEX CONCURRENTLY users_email_idx ON app.users (email);
        """,
    )
    code, report = _lint(tmp_path, sql)
    assert (code, report["findings"]) == (0, [])


# --- psql scripts --------------------------------------------------------------

PSQL_SCRIPT = """\
\\set ON_ERROR_STOP on
\\connect app
CREATE TABLE audit_log (id bigint PRIMARY KEY, note text);
COPY audit_log (id, note) FROM stdin;
1\tDROP TABLE users;
2\tSELEC garbage
\\.
CREATE INDEX audit_log_note_idx ON users (email);
SELECT count(*) AS n FROM users \\gset
\\i more.sql
"""


def test_a_psql_script_is_read_as_psql_reads_it(tmp_path: Path) -> None:
    code, report = _lint(tmp_path, _file(tmp_path, "dump.sql", PSQL_SCRIPT))
    # the statement after '\.' is linted (L101); the data rows are not statements
    assert code == 1
    assert _codes(report) == [
        ("I703", 1, 1),
        ("I703", 2, 1),
        ("I703", 5, 1),
        ("L101", 8, 1),
        ("I703", 9, 33),
        ("I703", 10, 1),
    ]
    assert report["files"][0]["statements"] == 4
    notes = [f for f in report["findings"] if f["rule_id"] == "I703"]
    assert {f["severity"] for f in notes} == {"info"}
    assert "2 row(s) up to line 7 skipped" in notes[2]["message"]
    assert "included file is not linted here" in notes[4]["message"]
    assert report["summary"]["notes"] == 5


def test_notes_never_fail_the_gate_even_with_fail_on_warning(tmp_path: Path) -> None:
    script = PSQL_SCRIPT.replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ")
    path = _file(tmp_path, "dump.sql", script)
    code, report = _lint(tmp_path, "--fail-on", "warning", path)
    assert code == 0
    assert {f["rule_id"] for f in report["findings"]} == {"I703"}
    text = CliRunner().invoke(cli, ["lint", path]).output
    assert "0 errors, 0 warnings, 5 notes — lint passed" in text


def test_without_a_backslash_the_meta_command_was_glued_to_the_next_statement(
    tmp_path: Path,
) -> None:
    """The regression: '\\set' made the next statement unreadable (U501), so its
    hazard (L101 here) went unreported."""
    path = _file(tmp_path, "s.sql", "\\set x 1\nCREATE INDEX i ON users (email);\n")
    assert _codes(_lint(tmp_path, path)[1]) == [("I703", 1, 1), ("L101", 2, 1)]


def test_notes_can_be_turned_off_or_made_errors(tmp_path: Path) -> None:
    path = _file(tmp_path, "s.sql", "\\set x 1\nSELECT 1;\n")
    assert _lint(tmp_path, path, config="[lint]\nignore = ['I703']\n")[1]["findings"] == []
    code, _ = _lint(tmp_path, path, config="[lint]\nseverity = { I703 = 'error' }\n")
    assert code == 1


def test_sarif_github_and_gitlab_show_notes_as_notes(tmp_path: Path) -> None:
    path = _file(tmp_path, "s.sql", "\\set x 1\nSELECT 1;\n")
    run = CliRunner().invoke
    sarif = json.loads(run(cli, ["lint", "--format", "sarif", path]).output)
    assert [r["level"] for r in sarif["runs"][0]["results"]] == ["note"]
    assert run(cli, ["lint", "--format", "github", path]).output.startswith("::notice ")
    gitlab = json.loads(run(cli, ["lint", "--format", "gitlab", path]).output)
    assert [issue["severity"] for issue in gitlab] == ["info"]


# --- BOM -------------------------------------------------------------------------


def test_a_bom_is_ignored_in_a_plain_file_and_on_stdin(tmp_path: Path) -> None:
    sql = "CREATE INDEX i ON users (email);\nALTER TABEL users ADD x int;\n"
    expected = [("L101", 1, 1), ("I701", 2, 7)]
    with_bom = _file(tmp_path, "bom.sql", sql, bom=True)
    assert _codes(_lint(tmp_path, with_bom)[1]) == expected
    assert _codes(_lint(tmp_path, "-", stdin="\ufeff" + sql)[1]) == expected


def test_a_bom_is_ignored_in_a_migration_phase_file(tmp_path: Path) -> None:
    folder = tmp_path / "migrations" / "0001_users"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text('description = "x"\n', encoding="utf-8")
    (folder / "expand.sql").write_text(
        "\ufeffCREATE TABLE users (id int, email text);\nCREATE INDEX i ON users (email);\n",
        encoding="utf-8",
    )
    (folder / "expand.down.sql").write_text("\ufeffDROP TABLE users;\n", encoding="utf-8")
    (folder / "contract.sql").write_text(
        "\ufeffCREATE INDEX j ON accounts (id);\n", encoding="utf-8"
    )
    code, report = _lint(tmp_path, str(folder))
    # a BOM moves no column: the index on an existing table is at 1:1
    assert _codes(report) == [("L101", 1, 1)]
    assert report["findings"][0]["path"].endswith("contract.sql")
    assert code == 1


# --- the engine ------------------------------------------------------------------


def _psql_migration(root: Path, expand: str) -> Path:
    folder = root / "migrations" / "0001_users"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text('description = "x"\n', encoding="utf-8")
    (folder / "expand.sql").write_text(expand, encoding="utf-8")
    (folder / "expand.down.sql").write_text("DROP TABLE IF EXISTS audit_log;\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("expand", "line", "what"),
    [
        (
            "CREATE TABLE audit_log (id int);\n\\set ON_ERROR_STOP on\nSELECT 1;\n",
            2,
            "psql meta-command '\\set': expandctl runs migration SQL itself",
        ),
        (
            "CREATE TABLE audit_log (id int);\nCOPY audit_log FROM stdin;\n1\n\\.\n",
            2,
            "COPY … FROM stdin: expandctl runs migration SQL itself",
        ),
    ],
)
def test_the_engine_refuses_a_phase_file_with_psql_commands(
    tmp_path: Path, expand: str, line: int, what: str
) -> None:
    folder = _psql_migration(tmp_path, expand)
    with pytest.raises(ManifestError) as info:
        plan_phase(load_migration(folder), Phase.EXPAND, server_version=15)
    assert info.value.line == line
    assert what in str(info.value)
    code, report = _lint(tmp_path, str(folder))
    assert code == 1
    assert [(f["rule_id"], f["line"]) for f in report["findings"]] == [("I704", line)]


def test_advance_refuses_psql_commands_before_running_anything(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    (tmp_path / "migrations").mkdir()
    project = Project(root=tmp_path, db=pg_database, overrides={})
    project.add(
        "0001_audit",
        expand="CREATE TABLE audit_log (id int);\n\\connect other\nCREATE TABLE elsewhere ();\n",
        expand_down="DROP TABLE audit_log;\n",
    )
    with pytest.raises(ManifestError, match="psql meta-command"):
        advance(project.config())
    assert project.one("SELECT to_regclass('audit_log')::text") is None


def test_splitting_keeps_plain_sql_exactly_as_before() -> None:
    text = "SELECT 'a\\b', E'c\\'d', $$ \\x {{ y }} $$, \"e\\f\", arr[1:n], x::text;\nSELECT 2"
    scanned = split_script(text)
    assert [s.text for s in scanned.statements] == [text.split(";\n")[0], "SELECT 2"]
    assert (scanned.psql_commands, scanned.copy_data, scanned.placeholders) == ([], [], [])


def test_the_splitter_reads_psql_commands_copy_data_and_placeholders() -> None:
    text = (
        "\\set x 1 \\\\ SELECT 1;\r\n"  # '\\' ends a meta-command's arguments
        "SELECT a\r\n\\echo mid\r\n, b FROM t;\r\n"  # psql keeps the statement around it
        "COPY t FROM stdin;\r\n1\r\n\\.\r\n"
        "SELECT :'v', ${w} FROM t \\g\r\n"
        "COPY t FROM STDIN;\n2\n"  # no end marker: the data runs to the end
    )
    scanned = split_script(text)
    assert [s.text for s in scanned.statements] == [
        "SELECT 1",
        "SELECT a\r\n         \r\n, b FROM t",
        "COPY t FROM stdin",
        "SELECT :'v', ${w} FROM t",
        "COPY t FROM STDIN",
    ]
    assert [(c.name, c.line) for c in scanned.psql_commands] == [("set", 1), ("echo", 3), ("g", 8)]
    assert [(d.line, d.end_line, d.rows) for d in scanned.copy_data] == [(6, 7, 1), (10, 10, 1)]
    assert [(p.kind, p.text, p.line, p.column) for p in scanned.placeholders] == [
        ("variable", ":'v'", 8, 8),
        ("template", "${w}", 8, 14),
    ]
    # every statement keeps its offsets: its text is where the file has it
    for statement in scanned.statements:
        assert len(statement.text) == statement.end - statement.start


def test_a_multi_action_rule_is_one_statement_as_for_psql(tmp_path: Path) -> None:
    """Semicolons inside a rule's ``DO ALSO (…; …)`` do not end it: split there,
    PostgreSQL (and the syntax check) would reject both halves."""
    sql = _file(
        tmp_path,
        "rule.sql",
        """\
        CREATE RULE log_insert AS ON INSERT TO users
            DO ALSO (INSERT INTO audit_log VALUES (1); INSERT INTO audit_log VALUES (2));
        SELECT 1;
        """,
    )
    code, report = _lint(tmp_path, sql)
    assert code == 0
    assert report["files"][0]["statements"] == 2
    assert "I701" not in {f["rule_id"] for f in report["findings"]}
