"""The zero-downtime proof: old and new app versions keep working through every phase.

For each main operation, simulated old-version and new-version clients (own
connections, threads) insert, update and read back with the column names
their version knows while the migration advances through every phase and
each reversible phase is rolled back and re-applied. Asserted:

- no client error at all (each version only runs while it is supposed to be
  live: old through switch-writes, new from switch-reads on);
- before contract, every row's new shape equals up(old shape), and every row
  reads back as its writer last wrote it;
- after contract, nothing is lost: rows written by either version have the
  new shape they should (old writers' values translated by ``up``);
- (the schema after each rollback equals the one before the phase: see
  test_forward_rollback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.engine.workload.clients import AppShape, Values, Workload, verify_rows
from expandctl.engine.workload.proof import Prover
from expandctl.model.phases import Phase
from tests.conftest import PgDatabase
from tests.operations import sample_ops as sample
from tests.operations.schema import create_schema
from tests.operations.support import operation_project, query, snapshot

pytestmark = [pytest.mark.db, pytest.mark.slow]

SOAK_SECONDS = 0.15
MIGRATION = "0001_op"


def email(version: str, *, name: bool = False) -> dict[str, Callable[[int], Any]]:
    """Columns a version fills on insert only: the unique email (and name, if it
    does not write it anyway)."""
    required: dict[str, Callable[[int], Any]] = {"email": lambda n: f"{version}{n}@example.com"}
    if name:
        required["name"] = lambda n: f"Someone {n}"
    return required


@dataclass(frozen=True)
class Scenario:
    id: str
    op: dict[str, Any]
    old: AppShape
    new: AppShape
    # Where an old writer's values end up after contract, and how they look there.
    # (None: the old shape's rows are retired with it, e.g. a dropped table)
    old_in_new: tuple[str, ...] | None
    translate: Callable[[Values], Values]
    # Rows whose two shapes disagree, while both exist (None: nothing to compare).
    stale_sql: str | None = None
    old_table_after: str | None = None  # where old rows live after contract (default: new's)
    extra: dict[str, Any] = field(default_factory=dict)


# Two scenarios: old code relying on the default, and old code writing the column.
RENAME_PLAN = {
    "op": "rename_column",
    "table": "users",
    "column": "plan",
    "to": "tier",
    "type": "text",
    "not_null": True,
    "default": "'free'",
}


def split(values: Values) -> Values:
    first, _, last = values[0].partition(" ")
    return (first, last)


SCENARIOS = [
    Scenario(
        "rename_column",
        sample.RENAME_NAME,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "users", ("full_name",), lambda n: (f"New {n}",), email("new")),
        old_in_new=("full_name",),
        translate=lambda v: v,
        stale_sql="SELECT count(*) FROM users WHERE full_name IS DISTINCT FROM name",
    ),
    Scenario(
        # Old code relies on the default; new code writes only the new column.
        "rename_column_with_default",
        RENAME_PLAN,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "users", ("tier",), lambda n: (f"pro{n}",), email("new", name=True)),
        old_in_new=("name",),
        translate=lambda v: v,
        stale_sql="SELECT count(*) FROM users WHERE tier IS DISTINCT FROM plan",
    ),
    Scenario(
        # Old code writes the column itself while the moved default fills the new one.
        "rename_column_with_default_written_by_old_code",
        RENAME_PLAN,
        AppShape("old", "users", ("plan",), lambda n: (f"gold{n}",), email("old", name=True)),
        AppShape("new", "users", ("tier",), lambda n: (f"pro{n}",), email("new", name=True)),
        old_in_new=("tier",),
        translate=lambda v: v,
        stale_sql="SELECT count(*) FROM users WHERE tier IS DISTINCT FROM plan",
    ),
    Scenario(
        # A unique NOT NULL column: uniqueness and NOT NULL move to the new column.
        "rename_column_unique",
        {**sample.RENAME_NAME, "column": "email", "to": "email_address", "unique": True},
        AppShape("old", "users", ("email",), lambda n: (f"o{n}@x.org",), {"name": str}),
        AppShape("new", "users", ("email_address",), lambda n: (f"n{n}@x.org",), {"name": str}),
        old_in_new=("email_address",),
        translate=lambda v: v,
        stale_sql="SELECT count(*) FROM users WHERE email_address IS DISTINCT FROM email",
    ),
    Scenario(
        "replace_column_split_name",
        sample.SPLIT_NAME,
        AppShape("old", "users", ("name",), lambda n: (f"Ada{n} Lovelace{n}",), email("old")),
        AppShape(
            "new",
            "users",
            ("first_name", "last_name"),
            lambda n: (f"Grace{n}", f"Hopper{n}"),
            email("new"),
        ),
        old_in_new=("first_name", "last_name"),
        translate=split,
        stale_sql="SELECT count(*) FROM users"
        " WHERE first_name IS DISTINCT FROM split_part(name, ' ', 1)",
    ),
    Scenario(
        "change_column_type_bigint",
        sample.AGE_TO_BIGINT,
        AppShape("old", "users", ("age",), lambda n: (n % 90,), email("old", name=True)),
        AppShape("new", "users", ("age_big",), lambda n: (n % 90 + 1000,), email("new", name=True)),
        old_in_new=("age_big",),
        translate=lambda v: v,
        stale_sql="SELECT count(*) FROM users WHERE age_big IS DISTINCT FROM age",
    ),
    Scenario(
        "set_not_null",
        sample.NICKNAME_NOT_NULL,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape(
            "new", "users", ("name", "nickname"), lambda n: (f"N {n}", f"nick{n}"), email("new")
        ),
        old_in_new=("name",),
        translate=lambda v: v,
    ),
    Scenario(
        "add_foreign_key",
        {
            "op": "add_foreign_key",
            "table": "users",
            "name": "users_org_id_fkey",
            "columns": ["org_id"],
            "references": "orgs",
            "references_columns": ["id"],
        },
        AppShape("old", "users", ("org_id",), lambda n: (1 + n % 5,), email("old", name=True)),
        AppShape("new", "users", ("org_id",), lambda n: (1 + n % 3,), email("new", name=True)),
        old_in_new=("org_id",),
        translate=lambda v: v,
    ),
    Scenario(
        "add_column_not_null_default",
        sample.ADD_STATUS,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "users", ("name", "status"), lambda n: (f"N {n}", "vip"), email("new")),
        old_in_new=("name",),
        translate=lambda v: v,
    ),
    Scenario(
        "rename_table",
        sample.USERS_TO_PEOPLE,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "people", ("name",), lambda n: (f"N {n}",), email("new")),
        old_in_new=("name",),
        translate=lambda v: v,
    ),
    Scenario(
        "add_check",
        sample.AGE_POSITIVE,
        AppShape("old", "users", ("age",), lambda n: (1 + n % 90,), email("old", name=True)),
        AppShape("new", "users", ("age",), lambda n: (2 + n % 90,), email("new", name=True)),
        old_in_new=("age",),
        translate=lambda v: v,
    ),
    Scenario(
        "add_unique",
        {"op": "add_unique", "table": "users", "name": "users_nick_key", "columns": ["nickname"]},
        AppShape("old", "users", ("nickname",), lambda n: (f"o{n}",), email("old", name=True)),
        AppShape("new", "users", ("nickname",), lambda n: (f"n{n}",), email("new", name=True)),
        old_in_new=("nickname",),
        translate=lambda v: v,
    ),
    Scenario(
        "create_index",
        sample.AGE_INDEX,
        AppShape("old", "users", ("age",), lambda n: (n % 90,), email("old", name=True)),
        AppShape("new", "users", ("age",), lambda n: (n % 80,), email("new", name=True)),
        old_in_new=("age",),
        translate=lambda v: v,
    ),
    Scenario(
        "drop_index",
        {"op": "drop_index", "name": "users_email_key"},
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "users", ("name",), lambda n: (f"N {n}",), email("new")),
        old_in_new=("name",),
        translate=lambda v: v,
    ),
    Scenario(
        # New code stops writing email; the column may be NULL from expand on.
        "drop_not_null",
        sample.EMAIL_NULLABLE,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "users", ("name",), lambda n: (f"N {n}",)),
        old_in_new=("name",),
        translate=lambda v: v,
    ),
    Scenario(
        "drop_column",
        sample.DROP_NICKNAME,
        AppShape("old", "users", ("name", "nickname"), lambda n: (f"O{n}", f"n{n}"), email("old")),
        AppShape("new", "users", ("name",), lambda n: (f"N {n}",), email("new")),
        old_in_new=None,
        translate=lambda v: v,
    ),
    Scenario(
        "create_table",
        sample.CREATE_TEAMS,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "teams", ("name",), lambda n: (f"Team {n}",)),
        old_in_new=("name",),
        old_table_after="users",
        translate=lambda v: v,
    ),
    Scenario(
        # Old code still writes orgs until contract; new code no longer uses it.
        "drop_table",
        {"op": "drop_table", "table": "orgs"},
        AppShape("old", "orgs", ("name",), lambda n: (f"Org {n}",)),
        AppShape("new", "users", ("name",), lambda n: (f"N {n}",), email("new")),
        old_in_new=None,
        translate=lambda v: v,
    ),
    Scenario(
        "sql",
        sample.SQL_CREATED_AT_INDEX,
        AppShape("old", "users", ("name",), lambda n: (f"Old {n}",), email("old")),
        AppShape("new", "users", ("name",), lambda n: (f"N {n}",), email("new")),
        old_in_new=("name",),
        translate=lambda v: v,
    ),
]


def _check_before_contract(dsn: str, scenario: Scenario, workload: Workload) -> None:
    if scenario.stale_sql:
        assert query(dsn, scenario.stale_sql) == [(0,)], "old and new shapes disagree"
    with psycopg.connect(dsn) as conn:
        for shape in (scenario.old, scenario.new):
            problems = verify_rows(conn, shape, workload.written(shape.version))
            assert problems == [], f"{shape.version} rows: {problems[:3]}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_old_and_new_clients_see_no_errors(
    pg_database: PgDatabase, tmp_path: Path, scenario: Scenario
) -> None:
    """Through the real engine: advance and rollback, lock timeouts, the backfill runner."""
    dsn = pg_database.dsn
    create_schema(dsn)
    config = operation_project(tmp_path, pg_database, [scenario.op], MIGRATION)
    with Workload(dsn, [scenario.old, scenario.new], think_time=0.001) as workload:
        prover = Prover(
            workload,
            advance=lambda phase: advance(config, MIGRATION, to=phase, yes=True),
            rollback=lambda phase: rollback(config, MIGRATION, yes=True),
            soak_seconds=SOAK_SECONDS,
            snapshot=lambda: snapshot(dsn),
        )
        run = prover.prove(before_contract=lambda: _check_before_contract(dsn, scenario, workload))
    errors = workload.errors()
    assert errors == [], f"{len(errors)} client errors, first: {errors[:3]}"
    # Both versions really ran, in the windows where they are live.
    assert workload.requests("old") > 20 and workload.requests("new") > 20
    assert run.errors_while_live("old") == 0 and run.errors_while_live("new") == 0
    # Each rollback, under traffic, left the schema exactly as before its phase.
    assert run.schema_drift == []
    # Nothing lost, nothing stale: every row in the final shape.
    new_rows = workload.written("new")
    old_rows = {k: scenario.translate(v) for k, v in workload.written("old").items()}
    with psycopg.connect(dsn) as conn:
        assert verify_rows(conn, scenario.new, new_rows) == []
        if scenario.old_in_new is not None:
            table = scenario.old_table_after or scenario.new.table
            moved = AppShape("old", table, scenario.old_in_new, scenario.old.values)
            assert verify_rows(conn, moved, old_rows) == []


def test_every_operation_has_a_scenario() -> None:
    from expandctl.model.ops.registry import OPERATION_NAMES

    # retype_column changes the type clients read back, which breaks statements PostgreSQL
    # has prepared (these clients prepare): proven with unprepared clients instead, in
    # test_in_place_type_zero_downtime.py, which also shows that hazard.
    elsewhere = {"retype_column"}
    assert {str(s.op["op"]) for s in SCENARIOS} | elsewhere == set(OPERATION_NAMES)


def test_the_harness_catches_a_naive_rename(pg_database: PgDatabase) -> None:
    """Control: renaming in place breaks old clients at once, and the harness sees it."""
    dsn = pg_database.dsn
    create_schema(dsn)

    def rename_in_place(phase: Phase) -> None:
        # What a one-step migration does: no expand, no sync, just the rename.
        if phase is Phase.EXPAND:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("ALTER TABLE users RENAME COLUMN name TO full_name")

    old = SCENARIOS[0].old
    new = SCENARIOS[0].new
    with Workload(dsn, [old, new], think_time=0.001) as workload:
        run = Prover(
            workload,
            advance=rename_in_place,
            rollback=rename_in_place,
            soak_seconds=SOAK_SECONDS,
        ).prove(with_rollbacks=False)
    assert run.errors_while_live("old") > 0
    assert any('column "name"' in e.message for e in workload.errors("old"))
