"""``expandctl new``: placeholders nothing runs until filled in, ``requires`` of the
previous migration, phase files that say what belongs in them and still run nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

from expandctl.cli import cli
from expandctl.loader.migrations import load_migrations
from expandctl.model.sqlfiles import SQL_FILE_NAMES
from tests.conftest import PgDatabase


def project(tmp_path: Path) -> Path:
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    return tmp_path


def run(runner: CliRunner, root: Path, *args: str, url: str | None = None) -> click.testing.Result:
    options = ["--database-url", url] if url else []
    return runner.invoke(cli, [*options, "--config", str(root / "expandctl.toml"), *args])


def ok(result: click.testing.Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def manifest_lines(root: Path, migration_id: str) -> list[str]:
    return (root / "migrations" / migration_id / "migration.toml").read_text().splitlines()


def line_of(lines: list[str], prefix: str) -> int:
    return next(n for n, line in enumerate(lines, 1) if line.startswith(prefix))


# --- placeholders --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "keys"),
    [
        ("drop_column", ["table", "column"]),
        ("rename_column", ["table", "column", "to"]),
        ("drop_index", ["name"]),
        ("change_column_type", ["table", "column", "to", "type", "down"]),
    ],
)
def test_values_not_given_are_placeholders_that_every_command_refuses(
    runner: CliRunner, tmp_path: Path, op: str, keys: list[str]
) -> None:
    root = project(tmp_path)
    ok(run(runner, root, "new", "z", "--op", op))
    lines = manifest_lines(root, "0001_z")
    folder = root / "migrations" / "0001_z" / "migration.toml"
    expected = [
        f"{folder}:{line_of(lines, key + ' = ')}: {key} is still the placeholder"
        f" '<{key.upper()}>' written by `expandctl new`; fill it in"
        for key in keys
    ]
    for line in (line_of(lines, key + " = ") for key in keys):
        assert "# fill in: " in lines[line - 1]  # and a comment says what to put there
    for command in (["lint"], ["list"], ["plan", "0001", "--phase", "contract"]):
        result = run(runner, root, *command)
        assert result.exit_code == 2, (command, result.output)
        shown = result.output.replace("error: ", "").splitlines()
        assert shown == expected, command  # every placeholder, each with file:line


def test_filled_in_placeholders_lint_clean(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    ok(run(runner, root, "new", "drop_nickname", "--op", "drop_column"))
    path = root / "migrations" / "0001_drop_nickname" / "migration.toml"
    text = path.read_text().replace('"<TABLE>"', '"users"').replace('"<COLUMN>"', '"nickname"')
    path.write_text(text)
    assert "lint passed" in ok(run(runner, root, "lint"))


def test_values_given_on_the_command_line_are_written_as_given(
    runner: CliRunner, tmp_path: Path
) -> None:
    root = project(tmp_path)
    ok(
        run(
            runner,
            root,
            "new",
            "retype",
            "--op",
            "change_column_type",
            "--table",
            "accounts",
            "--column",
            "balance",
            "--to",
            "balance_cents",
            "--type",
            "numeric(12, 2)",
        )
    )
    lines = manifest_lines(root, "0001_retype")
    for key, value in [
        ("table", "accounts"),
        ("column", "balance"),
        ("to", "balance_cents"),
        ("type", "numeric(12, 2)"),
    ]:
        assert lines[line_of(lines, f"{key} = ") - 1].startswith(f'{key} = "{value}"')
    # `down` cannot be guessed (narrowing back is the developer's call): still a placeholder
    assert lines[line_of(lines, "down = ") - 1].startswith('down = "<DOWN>"')


def test_derived_names_use_only_what_was_given(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    ok(
        run(
            runner,
            root,
            "new",
            "idx",
            "--op",
            "create_index",
            "--table",
            "users",
            "--column",
            "age",
        )
    )
    ok(run(runner, root, "new", "idx2", "--op", "create_index", "--table", "users"))
    assert 'name = "users_age_idx"' in "\n".join(manifest_lines(root, "0001_idx"))
    assert 'name = "<NAME>"' in "\n".join(manifest_lines(root, "0002_idx2"))


# --- requires --------------------------------------------------------------------------


def test_new_requires_the_latest_existing_migration(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    ok(run(runner, root, "new", "first"))
    ok(run(runner, root, "new", "second"))
    created = json.loads(ok(run(runner, root, "new", "third", "--format", "json")))
    assert created["requires"] == ["0002_second"]
    ok(run(runner, root, "new", "fourth", "--requires", "0001_first"))
    ok(run(runner, root, "new", "fifth", "--no-requires"))
    loaded = {
        m.id: list(m.manifest.requires) for m in load_migrations(root / "migrations").migrations
    }
    assert loaded == {
        "0001_first": [],
        "0002_second": ["0001_first"],
        "0003_third": ["0002_second"],
        "0004_fourth": ["0001_first"],
        "0005_fifth": [],
    }
    wrong = run(runner, root, "new", "sixth", "--requires", "0009_nope")
    assert wrong.exit_code == 2 and "0009_nope" in wrong.output
    assert not (root / "migrations" / "0006_sixth").exists()


@pytest.mark.db
def test_readme_example_waits_for_the_migration_before_it(
    runner: CliRunner, tmp_path: Path, pg_database: PgDatabase
) -> None:
    """The README's `new ... --op rename_column` needs no hand edit on a fresh database:
    requires orders it after the migration creating the table, and the column's type
    and NOT NULL come from the catalog."""
    root = project(tmp_path)
    url = pg_database.url
    ok(run(runner, root, "new", "create_users", "--no-requires"))
    expand = root / "migrations" / "0001_create_users" / "expand.sql"
    expand.write_text(
        expand.read_text()
        + "CREATE TABLE users (id bigint PRIMARY KEY, nickname varchar(40) NOT NULL);\n"
        + "INSERT INTO users VALUES (1, 'ann'), (2, 'bob');\n"
    )
    (root / "migrations" / "0001_create_users" / "expand.down.sql").write_text(
        "DROP TABLE users;\n"
    )
    ok(
        run(
            runner,
            root,
            "new",
            "rename_users_name",
            "--op",
            "rename_column",
            "--table",
            "users",
            "--column",
            "nickname",
            "--to",
            "handle",
        )
    )
    early = run(runner, root, "advance", "0002", url=url)
    assert early.exit_code == 4
    assert "requires 0001_create_users, which is pending" in early.output
    ok(run(runner, root, "advance", "--all", "--to", "contract", "--yes", url=url))
    with pg_database.connect() as conn:
        row = conn.execute(
            "SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
            " WHERE attrelid = 'users'::regclass AND attname = 'handle'"
        ).fetchone()
        names = conn.execute("SELECT handle FROM users ORDER BY id").fetchall()
    assert row == ("character varying(40)", True)
    assert names == [("ann",), ("bob",)]


# --- flags, help --------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--table", "--column", "--to", "--type", "--name"])
def test_operation_flags_without_op_are_refused(
    runner: CliRunner, tmp_path: Path, flag: str
) -> None:
    root = project(tmp_path)
    result = run(runner, root, "new", "x", flag, "users")
    assert result.exit_code == 2
    assert f"{flag} is only used with --op" in result.output
    assert not (root / "migrations").exists() or not any((root / "migrations").iterdir())


def test_help_is_plain_text(runner: CliRunner) -> None:
    text = ok(runner.invoke(cli, ["new", "--help"]))
    assert "``" not in text and ":ref:" not in text
    for option in (
        "--op OPERATION",
        "--table",
        "--column",
        "--to",
        "--type",
        "--name",
        "--requires",
    ):
        assert option in text
    assert "expandctl new rename_users_name --op rename_column" in text


# --- phase files --------------------------------------------------------------------


def test_phase_files_say_what_belongs_in_them_and_run_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    root = project(tmp_path)
    ok(run(runner, root, "new", "plain"))
    folder = root / "migrations" / "0001_plain"
    for name in SQL_FILE_NAMES:
        text = (folder / name).read_text()
        assert text.startswith(f"-- {name}: ")
        assert all(line.startswith("-- ") or not line for line in text.splitlines())
    assert re.search(r"CONCURRENTLY", (folder / "expand.sql").read_text())
    assert "retires" in (folder / "contract.sql").read_text()
    assert "0 statements" in ok(run(runner, root, "lint"))
    for phase in ("expand", "switch-reads", "switch-writes", "contract"):
        assert "steps: none" in ok(run(runner, root, "plan", "0001", "--phase", phase))


@pytest.mark.db
def test_comment_only_phase_files_advance_and_roll_back_as_empty(
    runner: CliRunner, tmp_path: Path, pg_database: PgDatabase
) -> None:
    root = project(tmp_path)
    url = pg_database.url
    ok(run(runner, root, "new", "plain"))
    ok(run(runner, root, "advance", "0001", "--to", "switch-writes", url=url))
    ok(run(runner, root, "rollback", "0001", "--yes", url=url))
    ok(run(runner, root, "advance", "0001", "--to", "contract", "--yes", url=url))
    status = json.loads(ok(run(runner, root, "status", "--format", "json", url=url)))
    (migration,) = status["migrations"]
    assert migration["state"] == "contract"


def test_new_numbers_past_a_scaffold_not_filled_in_yet(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    ok(run(runner, root, "new", "retype", "--op", "change_column_type"))
    ok(run(runner, root, "new", "next"))
    assert 'requires = ["0001_retype"]' in "\n".join(manifest_lines(root, "0002_next"))
    assert run(runner, root, "lint").exit_code == 2  # the placeholders are still refused
