"""retype_column under live traffic: an integer primary key and two referencing tables.

The application does not change across an in-place type change, so the "old"
and "new" versions the prover switches on and off run the same code: insert
accounts (ids from the default), orders and payments pointing at them, update
and read back their own rows, through every phase and every rollback of the
real ``advance`` / ``rollback``. Asserted: no client error, no stale read, no
row lost, and after each phase (and rollback) every shadow or old-typed copy
equals its column.

Clients run without server-side prepared statements: a statement PostgreSQL
has prepared keeps its result type, and once a column it returns changes type
every later execution fails with "cached plan must not change result type"
(as after a plain ALTER COLUMN ... TYPE). ``test_prepared_statements_break_on_any_type_change``
shows that hazard, which docs/operations.md tells applications how to avoid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.engine.workload.clients import AppShape, Client, Workload, verify_rows
from expandctl.engine.workload.proof import Prover
from expandctl.model.phases import Phase
from tests.conftest import PgDatabase
from tests.operations.in_place_schema import create_pk_schema, pk_operation
from tests.operations.support import operation_project, query, snapshot

pytestmark = [pytest.mark.db, pytest.mark.slow]

MIGRATION = "0001_widen_ids"
ROWS = 2000


class UnpreparedClient(Client):
    """An application client that never asks PostgreSQL to prepare statements."""

    def _connection(self) -> psycopg.Connection[Any]:
        fresh = self._conn is None or self._conn.closed
        conn = super()._connection()
        if fresh:
            conn.prepare_threshold = None
        return conn


def app_shapes(version: str) -> list[AppShape]:
    """The one application, whichever version: it never names a shadow column."""
    return [
        AppShape(
            version,
            "accounts",
            ("note",),
            lambda n: (f"{version} account {n}",),
            {"email": lambda n: f"{version}{n}@example.com"},
        ),
        AppShape(version, "orders", ("account_id", "note"), lambda n: (1 + n % ROWS, f"o{n}")),
        AppShape(version, "payments", ("account_id", "note"), lambda n: (1 + n % ROWS, f"p{n}")),
    ]


def unprepared_workload(dsn: str, shapes: list[AppShape]) -> Workload:
    workload = Workload(dsn, shapes, clients_per_version=1, think_time=0.001)
    workload.clients = [
        UnpreparedClient(
            dsn, c.shape, c.name, workload.timeline, seed=i + 1, think_time=c.think_time
        )
        for i, c in enumerate(workload.clients)
    ]
    return workload


STALE = {
    # (table, column): rows whose shadow (before the swap) or old-typed copy (after) differs
    ("accounts", "id"),
    ("orders", "account_id"),
    ("payments", "account_id"),
}


def stale_rows(dsn: str, number: str) -> dict[str, int]:
    found: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        for table, column in sorted(STALE):
            names = {
                r[0]
                for r in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass"
                    " AND attnum > 0 AND NOT attisdropped",
                    [table],
                )
            }
            for suffix in ("new", "old"):
                copy = f"expandctl_{number}_{column}_{suffix}"
                if copy in names:
                    count = conn.execute(
                        psycopg.sql.SQL(
                            "SELECT count(*) FROM {} WHERE CAST({} AS bigint)"
                            " IS DISTINCT FROM CAST({} AS bigint)"
                        ).format(
                            psycopg.sql.Identifier(table),
                            psycopg.sql.Identifier(copy),
                            psycopg.sql.Identifier(column),
                        )
                    ).fetchone()
                    found[f"{table}.{copy}"] = count[0] if count else -1
    return found


@pytest.mark.parametrize("kind", ["serial", "identity"])
def test_widening_a_referenced_primary_key_under_traffic(
    pg_database: PgDatabase, tmp_path: Path, kind: str
) -> None:
    dsn = pg_database.dsn
    create_pk_schema(dsn, kind, rows=ROWS)
    config = operation_project(tmp_path, pg_database, [pk_operation(kind)], MIGRATION)
    checked: list[tuple[str, dict[str, int]]] = []

    def after(label: str, phase: Phase) -> None:
        # Just after expand the existing rows wait for the backfill: nothing to compare yet.
        if label != "advance expand":
            checked.append((f"{label}", stale_rows(dsn, "0001")))

    def forward(phase: Phase) -> None:
        advance(config, MIGRATION, to=phase, yes=True)
        after(f"advance {phase.value}", phase)

    def back(phase: Phase) -> None:
        rollback(config, MIGRATION, yes=True)
        after(f"rollback {phase.value}", phase)

    shapes = app_shapes("old") + app_shapes("new")
    with unprepared_workload(dsn, shapes) as workload:
        run = Prover(
            workload,
            advance=forward,
            rollback=back,
            soak_seconds=0.3,
            snapshot=lambda: snapshot(dsn),
        ).prove()
    errors = workload.errors()
    assert errors == [], f"{len(errors)} client errors, first: {errors[:3]}"
    assert workload.requests("old") > 100 and workload.requests("new") > 100
    assert run.schema_drift == []
    # Every check after a phase or rollback compared something, and found nothing stale.
    assert all(not any(counts.values()) for _, counts in checked), checked
    assert sum(1 for _, counts in checked if len(counts) == 3) >= 8, checked
    # Nothing lost: every row reads back as its client last wrote it, ids now bigint.
    with psycopg.connect(dsn) as conn:
        for shape in shapes:
            rows = {
                k: v for c in workload.clients if c.shape == shape for k, v in c.written.items()
            }
            assert rows and verify_rows(conn, shape, rows) == []
    assert query(
        dsn,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'accounts'::regclass AND attname = 'id'",
    ) == [("bigint",)]


def test_prepared_statements_break_on_any_type_change(pg_database: PgDatabase) -> None:
    """The hazard the clients above avoid: a prepared statement returning the column fails
    after its type changes, by retype_column's swap or by a plain ALTER COLUMN ... TYPE."""
    dsn = pg_database.dsn
    create_pk_schema(dsn, "serial", rows=10)
    with psycopg.connect(dsn, autocommit=True) as app:
        app.prepare_threshold = 0  # prepare at once, as drivers do after a few runs
        app.execute("SELECT id FROM accounts WHERE id = %s", [1])
        with psycopg.connect(dsn, autocommit=True) as ddl:
            ddl.execute("ALTER TABLE orders DROP CONSTRAINT orders_account_id_fkey")
            ddl.execute("ALTER TABLE payments DROP CONSTRAINT payments_account_id_fkey")
            ddl.execute("ALTER TABLE accounts ALTER COLUMN id TYPE bigint")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="cached plan"):
            app.execute("SELECT id FROM accounts WHERE id = %s", [1])
