"""Operation planning as pure data: order, backfill numbering, validation, preconditions."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from expandctl.commands.advance import advance
from expandctl.errors import CheckFailed, DatabaseError
from expandctl.model.manifest import Manifest
from expandctl.model.ops.registry import plan_operations
from expandctl.model.phases import Phase
from expandctl.model.steps import BackfillStep, SqlStep
from tests.conftest import PgDatabase
from tests.operations.sample_ops import RENAME_NAME
from tests.operations.schema import create_schema
from tests.operations.support import (
    MIGRATION_ID,
    Raw,
    forward_rollback_forward,
    operation_project,
    parse,
    plan,
    query,
    snapshot,
)

ADD = {"op": "add_column", "table": "users", "column": "status", "type": "text", "default": "'x'"}


def test_manifest_discriminates_operations_on_op() -> None:
    manifest = Manifest.model_validate({"description": "d", "operations": [RENAME_NAME, ADD]})
    assert [type(op).__name__ for op in manifest.operations] == ["RenameColumn", "AddColumn"]


def test_unknown_op_and_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="rename_colum"):
        Manifest.model_validate({"description": "d", "operations": [{"op": "rename_colum"}]})
    with pytest.raises(ValidationError, match="colour"):
        Manifest.model_validate({"description": "d", "operations": [{**RENAME_NAME, "colour": 1}]})


def test_not_null_add_column_needs_a_default() -> None:
    with pytest.raises(ValidationError, match="not_null needs a default"):
        parse({**ADD, "default": None, "not_null": True})


def test_backfill_indexes_continue_after_the_manifest_entries() -> None:
    ops = [parse(RENAME_NAME), parse(ADD)]
    steps = plan_operations(
        ops, Phase.BACKFILL, rollback=False, migration_id="0010_x", first_backfill_index=2
    )
    assert [s.index for s in steps if isinstance(s, BackfillStep)] == [2, 3]


def test_rollback_undoes_operations_in_reverse_order() -> None:
    ops = [parse(RENAME_NAME), parse(ADD)]
    sources = [s.source for s in plan(ops, Phase.EXPAND, rollback=True) if isinstance(s, SqlStep)]
    assert sources[0].startswith("operation 2") and sources[-1].startswith("operation 1")


def test_concurrent_index_steps_run_in_autocommit_and_name_their_index() -> None:
    op = parse({"op": "create_index", "table": "users", "name": "Users Age", "columns": ["age"]})
    (step,) = [s for s in plan([op], Phase.EXPAND) if isinstance(s, SqlStep)][-1:]
    assert step.autocommit and step.concurrent_action == "create"
    assert step.concurrent_index == '"Users Age"'


def test_old_servers_get_execute_procedure() -> None:
    text = " ".join(
        s.sql
        for s in plan([parse(RENAME_NAME)], Phase.EXPAND, version=10)
        if isinstance(s, SqlStep)
    )
    assert "EXECUTE PROCEDURE" in text


def test_names_from_the_manifest_are_quoted() -> None:
    op = parse({**RENAME_NAME, "table": 'we"ird', "column": "select", "to": "Full Name"})
    text = " ".join(s.sql for s in plan([op], Phase.EXPAND) if isinstance(s, SqlStep))
    assert 'ALTER TABLE "we""ird" ADD COLUMN "Full Name" text' in text


@pytest.mark.db
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**RENAME_NAME, "column": "nope"}, "column users.nope does not exist"),
        ({**RENAME_NAME, "to": "email"}, "column users.email already exists"),
        ({**RENAME_NAME, "not_null": False}, "users.name is NOT NULL"),
        ({**RENAME_NAME, "table": "ghosts"}, "table ghosts does not exist"),
        ({**ADD, "column": "age"}, "column users.age already exists"),
        (  # rename_column reads an old default from the catalog; this one must declare it
            {"op": "change_column_type", "table": "users", "column": "plan", "to": "tier"}
            | {"type": "varchar(20)", "down": "tier"},
            "column users.plan has a default",
        ),
        ({"op": "drop_column", "table": "users", "column": "email"}, "NOT NULL without a default"),
        ({"op": "drop_index", "name": "nope_idx"}, "index nope_idx does not exist"),
        (
            {"op": "create_table", "table": "users", "columns": [{"name": "a", "type": "int"}]},
            "table users already exists",
        ),
    ],
)
def test_catalog_checks_stop_expand_before_any_change(
    pg_database: PgDatabase, tmp_path: Path, raw: Raw, message: str
) -> None:
    create_schema(pg_database.dsn)
    refuse_expand(pg_database, tmp_path, [raw], message)


def refuse_expand(db: PgDatabase, root: Path, ops: list[Raw], message: str) -> None:
    """``advance`` refuses expand with ``message`` and changes nothing."""
    config = operation_project(root, db, ops)
    before = snapshot(db.dsn)
    with pytest.raises(CheckFailed, match=re.escape(message)):
        advance(config, MIGRATION_ID, yes=True)
    assert snapshot(db.dsn) == before
    assert query(db.dsn, "SELECT state FROM expandctl.migrations WHERE id = %s", MIGRATION_ID) in (
        [],
        [("pending",)],
    )


@pytest.mark.db
def test_switch_reads_refuses_while_rows_are_stale(pg_database: PgDatabase, tmp_path: Path) -> None:
    create_schema(pg_database.dsn)
    config = operation_project(tmp_path, pg_database, [RENAME_NAME])
    advance(config, MIGRATION_ID, to=Phase.BACKFILL, yes=True)
    # A row the sync trigger never saw (as if written with triggers off): stale.
    query_run(
        pg_database.dsn,
        "SET session_replication_role = replica; UPDATE users SET full_name = 'stale' WHERE id = 1",
    )
    with pytest.raises(CheckFailed, match="still has rows") as refused:
        advance(config, MIGRATION_ID, yes=True)
    assert refused.value.hint is not None and "run the backfill" in refused.value.hint
    assert query(
        pg_database.dsn, "SELECT state FROM expandctl.migrations WHERE id = %s", MIGRATION_ID
    ) == [("backfill",)]


@pytest.mark.db
@pytest.mark.parametrize(
    "bad",
    [
        {"new": [{"name": "first", "type": "text", "up": "split_part(nmae, ' ', 1)"}]},
        {"old": [{"name": "name", "down": "frist"}]},
        {"new": [{"name": "first", "type": "text", "up": "no_such_function(name)"}]},
    ],
    ids=["up-typo", "down-typo", "unknown-function"],
)
def test_a_bad_expression_fails_expand_and_changes_nothing(
    pg_database: PgDatabase, tmp_path: Path, bad: dict[str, object]
) -> None:
    create_schema(pg_database.dsn)
    raw = {
        "op": "replace_column",
        "table": "users",
        "old": [{"name": "name", "down": "first"}],
        "new": [{"name": "first", "type": "text", "up": "name"}],
        **bad,
    }
    config = operation_project(tmp_path, pg_database, [raw])
    before = snapshot(pg_database.dsn)
    with pytest.raises(DatabaseError, match="does not exist"):
        advance(config, MIGRATION_ID, yes=True)
    assert snapshot(pg_database.dsn) == before


FK = "ALTER TABLE users ADD CONSTRAINT users_org_id_fkey FOREIGN KEY (org_id) REFERENCES orgs (id)"
RENAME_ORG = {
    "op": "rename_column",
    "table": "users",
    "column": "org_id",
    "to": "organization_id",
    "type": "bigint",
}


@pytest.mark.db
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # Stated facts the catalog contradicts (left out, they are read from the catalog)
        ({**RENAME_NAME, "type": "integer"}, "type = 'integer' in migration.toml, but users.name"),
        (
            {**RENAME_NAME, "column": "email", "to": "mail", "unique": False},
            "unique = false in migration.toml, but users.email is unique",
        ),
        (RENAME_ORG, "column users.org_id has a foreign key"),
        (
            {**RENAME_ORG, "table": "orgs", "column": "id", "to": "org_key"},
            "column orgs.id is referenced by a foreign key",
        ),
    ],
)
def test_constraints_of_the_old_column_are_never_silently_lost(
    pg_database: PgDatabase, tmp_path: Path, raw: Raw, message: str
) -> None:
    create_schema(pg_database.dsn)
    query_run(pg_database.dsn, FK)
    refuse_expand(pg_database, tmp_path, [raw], message)


@pytest.mark.db
def test_rename_carries_the_foreign_key_over(pg_database: PgDatabase, tmp_path: Path) -> None:
    create_schema(pg_database.dsn)
    query_run(pg_database.dsn, FK)
    renamed = {**RENAME_ORG, "references": "orgs", "on_delete": "set null"}
    forward_rollback_forward(operation_project(tmp_path, pg_database, [renamed]), pg_database.dsn)
    assert query(
        pg_database.dsn,
        "SELECT conname, convalidated, confdeltype FROM pg_constraint"
        " WHERE conrelid = 'users'::regclass AND contype = 'f'",
    ) == [("users_organization_id_fkey", True, "n")]


def query_run(dsn: str, text: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(text.encode())


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "text; DROP TABLE users"},
        {"default": "'x';"},
        {"default": "'x' -- a comment would swallow the rest of the line"},
        {"default": "   "},
    ],
    ids=["stacked", "trailing-semicolon", "comment", "blank"],
)
def test_expressions_must_be_one_self_contained_expression(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=r"expression|comments|at least 1"):
        parse({**ADD, **bad})


def test_quotes_and_semicolons_inside_strings_are_fine() -> None:
    op = parse({**ADD, "default": "'a;b -- not a comment'"})
    assert "'a;b -- not a comment'" in " ".join(
        s.sql for s in plan([op], Phase.EXPAND) if isinstance(s, SqlStep)
    )


AGE_INDEX = "CREATE INDEX users_age_idx ON users (age)"
RENAME_AGE = {
    "op": "rename_column",
    "table": "users",
    "column": "age",
    "to": "age_years",
    "type": "integer",
}


@pytest.mark.db
def test_an_indexed_column_needs_index_true(pg_database: PgDatabase, tmp_path: Path) -> None:
    create_schema(pg_database.dsn)
    query_run(pg_database.dsn, AGE_INDEX)
    refuse_expand(
        pg_database,
        tmp_path,
        [{**RENAME_AGE, "index": False}],
        "index = false in migration.toml, but users.age is indexed",
    )


@pytest.mark.db
def test_rename_rebuilds_the_index_on_the_new_column(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    create_schema(pg_database.dsn)
    query_run(pg_database.dsn, AGE_INDEX)
    config = operation_project(tmp_path, pg_database, [{**RENAME_AGE, "index": True}])
    forward_rollback_forward(config, pg_database.dsn)
    assert query(
        pg_database.dsn,
        "SELECT indexname, indexdef LIKE '%%(age_years)' FROM pg_indexes"
        " WHERE tablename = 'users' AND indexname <> 'users_pkey' ORDER BY 1",
    ) == [("users_age_years_idx", True), ("users_email_key", False)]
