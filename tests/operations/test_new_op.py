"""``expandctl new SLUG --op ...`` scaffolds a manifest that loads and plans at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandctl.cli import cli
from expandctl.loader.migrations import load_migrations
from expandctl.model.ops.base import OperationBase
from expandctl.model.ops.registry import OPERATION_NAMES, plan_operations
from expandctl.model.phases import PHASES


def new(runner: CliRunner, root: Path, *args: str) -> str:
    (root / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    result = runner.invoke(cli, ["--config", str(root / "expandctl.toml"), "new", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_rename_column_scaffold_fills_in_the_names(runner: CliRunner, tmp_path: Path) -> None:
    new(
        runner,
        tmp_path,
        "rename_users_name",
        "--op",
        "rename_column",
        "--table",
        "users",
        "--column",
        "name",
        "--to",
        "full_name",
    )
    folder = tmp_path / "migrations" / "0001_rename_users_name"
    assert sorted(p.name for p in folder.iterdir()) == ["migration.toml"]
    (migration,) = load_migrations(tmp_path / "migrations").migrations
    (op,) = migration.manifest.operations
    assert op.model_dump(include={"op", "table", "column", "to"}) == {
        "op": "rename_column",
        "table": "users",
        "column": "name",
        "to": "full_name",
    }


# What no flag of `new` gives: the developer writes it (the loader refuses the placeholder).
NOT_FROM_FLAGS = {"<DOWN>": "age", "<UP>": "age", "<CHECK>": "age > 0", "<TYPE>": "integer"}


@pytest.mark.parametrize("op_name", OPERATION_NAMES)
def test_every_operation_scaffolds_a_valid_manifest(
    runner: CliRunner, tmp_path: Path, op_name: str
) -> None:
    """With every flag given, only what no flag can say is left as a placeholder;
    filled in, the manifest loads and plans."""
    new(
        runner,
        tmp_path,
        f"try_{op_name}",
        "--op",
        op_name,
        "--table",
        "users",
        "--column",
        "age",
        "--type",
        "bigint",
        "--to",
        "age_new",
        "--name",
        "users_age_thing",
    )
    path = tmp_path / "migrations" / f"0001_try_{op_name}" / "migration.toml"
    text = path.read_text()
    active = "\n".join(line.split("#")[0] for line in text.splitlines())
    left = set(re.findall(r"<[A-Z_]+>", active))
    assert left <= set(NOT_FROM_FLAGS), left
    for placeholder, value in NOT_FROM_FLAGS.items():
        text = text.replace(placeholder, value)
    path.write_text(text)
    (migration,) = load_migrations(tmp_path / "migrations").migrations
    (op,) = migration.manifest.operations
    assert isinstance(op, OperationBase) and op.label == op_name
    planned = [
        plan_operations([op], phase, rollback=False, migration_id=migration.id) for phase in PHASES
    ]
    assert op_name == "sql" or any(planned)


def test_plain_new_still_writes_phase_files(runner: CliRunner, tmp_path: Path) -> None:
    new(runner, tmp_path, "plain")
    assert (tmp_path / "migrations" / "0001_plain" / "expand.sql").is_file()


def test_unknown_op_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    result = runner.invoke(
        cli, ["--config", str(tmp_path / "expandctl.toml"), "new", "x", "--op", "rename_col"]
    )
    assert result.exit_code == 2
    assert "rename_column" in result.output
