"""``expandctl lint`` end to end through the CLI: paths, stdin, phases, config, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandctl.cli import cli
from tests.conftest import PROJECT_ROOT


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with one migration that expands, then contracts a retired column."""
    _write(tmp_path / "expandctl.toml", "pg_version = 15\n")
    folder = tmp_path / "migrations" / "0001_rename_name"
    _write(folder / "migration.toml", 'description = "x"\nretires = ["users.name"]\n')
    _write(
        folder / "expand.sql",
        "ALTER TABLE users ADD COLUMN full_name text;\n"
        "ALTER TABLE users ADD CONSTRAINT fn_nn CHECK (full_name IS NOT NULL) NOT VALID;\n",
    )
    _write(folder / "expand.down.sql", "ALTER TABLE users DROP COLUMN full_name;\n")
    _write(folder / "switch-reads.sql", "ALTER TABLE users VALIDATE CONSTRAINT fn_nn;\n")
    _write(
        folder / "contract.sql",
        "ALTER TABLE users ALTER COLUMN full_name SET NOT NULL;\n"
        "ALTER TABLE users DROP COLUMN name;\n",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_example_migrations_lint_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    result = CliRunner().invoke(cli, ["lint", "migrations"])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_a_correct_phased_migration_passes(project: Path) -> None:
    result = CliRunner().invoke(cli, ["lint"])
    assert result.exit_code == 0, result.output
    # 4 files: expand, its rollback, switch-reads, contract; nothing to say about any
    assert "4 files, 6 statements: 0 errors, 0 warnings" in result.output


def test_undeclared_contract_drop_fails(project: Path) -> None:
    manifest = project / "migrations" / "0001_rename_name" / "migration.toml"
    manifest.write_text('description = "x"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["lint", "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    [finding] = report["findings"]
    assert finding["rule_id"] == "C201"
    assert finding["phase"] == "contract"
    assert finding["path"] == "migrations/0001_rename_name/contract.sql"
    assert (finding["line"], finding["column"]) == (2, 1)
    assert "retires" in finding["message"]


def test_a_single_phase_file_is_linted_with_its_migration(project: Path) -> None:
    # What pre-commit passes: one changed file. It still sees retires and earlier phases.
    path = "migrations/0001_rename_name/contract.sql"
    result = CliRunner().invoke(cli, ["lint", "--format", "json", path])
    assert result.exit_code == 0, result.output
    assert [f["path"] for f in json.loads(result.output)["files"]] == [path]


def test_a_manifest_path_lints_its_whole_migration(project: Path) -> None:
    result = CliRunner().invoke(
        cli, ["lint", "--format", "json", "migrations/0001_rename_name/migration.toml"]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["files"]) == 4


def test_plain_file_defaults_to_expand_and_phase_flag_changes_it(project: Path) -> None:
    _write(project / "adhoc.sql", "REVOKE UPDATE ON users FROM app;\n")
    assert CliRunner().invoke(cli, ["lint", "adhoc.sql"]).exit_code == 1
    result = CliRunner().invoke(cli, ["lint", "--phase", "contract", "adhoc.sql"])
    assert result.exit_code == 0, result.output


def test_stdin(project: Path) -> None:
    result = CliRunner().invoke(cli, ["lint", "-"], input="CREATE INDEX i ON users (a);\n")
    assert result.exit_code == 1
    assert "<stdin>:1:1: error L101 create-index-non-concurrently" in result.output
    assert " 1 | CREATE INDEX i ON users (a);" in result.output
    assert "safe: CREATE INDEX CONCURRENTLY i ON users (a)" in result.output


def test_warnings_pass_unless_fail_on_warning(project: Path) -> None:
    sql = "DO $$ BEGIN EXECUTE format('SELECT %s', 1); END $$;\n"
    assert CliRunner().invoke(cli, ["lint", "-"], input=sql).exit_code == 0
    result = CliRunner().invoke(cli, ["lint", "--fail-on", "warning", "-"], input=sql)
    assert result.exit_code == 1
    assert "U502 dynamic-sql" in result.output


def test_config_ignore_and_severity(project: Path) -> None:
    sql = "CREATE INDEX i ON users (a);\nTRUNCATE users;\n"
    _write(
        project / "expandctl.toml",
        '[lint]\nignore = ["data-loss"]\nseverity = { L101 = "warning" }\n',
    )
    result = CliRunner().invoke(cli, ["lint", "--format", "json", "-"], input=sql)
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)["findings"]
    assert [(f["rule_id"], f["severity"]) for f in findings] == [("L101", "warning")]


def test_select_flag_replaces_the_default_set(project: Path) -> None:
    sql = "CREATE TABLE t (id serial PRIMARY KEY, j json);\nTRUNCATE users;\n"
    result = CliRunner().invoke(
        cli, ["lint", "--select", "style", "--format", "json", "-"], input=sql
    )
    ids = sorted(f["rule_id"] for f in json.loads(result.output)["findings"])
    assert ids == ["S601", "S604"]


def test_pg_version_flag(project: Path) -> None:
    sql = "ALTER TABLE users ADD COLUMN active boolean DEFAULT true;\n"
    assert CliRunner().invoke(cli, ["lint", "-"], input=sql).exit_code == 0
    assert CliRunner().invoke(cli, ["lint", "--pg-version", "10", "-"], input=sql).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lint", "nope.sql"], "no such file"),
        (["lint", "--select", "L999", "-"], "unknown rule or group 'L999'"),
        (["lint", "--pg-version", "99", "-"], "not a PostgreSQL major version"),
    ],
)
def test_usage_errors_exit_2(project: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args, input="SELECT 1;")
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_rule_in_config_is_a_config_error(project: Path) -> None:
    _write(project / "expandctl.toml", '[lint]\nselect = ["locking", "nonsense"]\n')
    result = CliRunner().invoke(cli, ["lint", "-"], input="SELECT 1;")
    assert result.exit_code == 2
    assert "nonsense" in result.output


def test_a_path_with_nothing_to_lint_fails_the_gate(project: Path) -> None:
    """A CI gate pointed at the wrong folder must not pass on '0 files'."""
    (project / "empty").mkdir()
    result = CliRunner().invoke(cli, ["lint", "empty"])
    assert result.exit_code == 2
    assert "no migrations or .sql files under empty" in result.output


def test_a_misnamed_migration_folder_is_named_not_skipped(project: Path) -> None:
    _write(project / "other" / "1_x" / "migration.toml", 'description = "x"\n')
    result = CliRunner().invoke(cli, ["lint", "other"])
    assert result.exit_code == 2
    assert "'1_x' is not NNNN_slug" in result.output


def test_a_fifo_is_refused_not_read(project: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: lint must not hang."""
    fifo = project / "pipe.sql"
    os.mkfifo(fifo)
    result = CliRunner().invoke(cli, ["lint", "pipe.sql"])
    assert result.exit_code == 2
    assert "pipe.sql" in result.output and "not a regular file" in result.output
