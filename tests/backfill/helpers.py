"""Small helpers shared by the backfill tests: tables, specs and a runner call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from expandctl.engine.backfill import BackfillResult, run_backfill
from expandctl.model.backfill import BackfillSpec
from expandctl.model.config import Settings
from tests.conftest import PgDatabase

SCHEMA = "expandctl"
MIGRATION = "0002_email_norm"
EMAIL_SPEC: dict[str, Any] = {
    "table": "users",
    "set": {"email_norm": "lower(email)"},
    "where": "email_norm IS DISTINCT FROM lower(email)",
}


def make_users(db: PgDatabase, rows: int, *, touches: bool = False) -> None:
    """users(id, email, email_norm); with ``touches``, a trigger counts updates per row."""
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, email_norm text,"
            " touches int NOT NULL DEFAULT 0)"
        )
        conn.execute(
            "INSERT INTO users (id, email) SELECT g, 'User' || g || '@Example.COM'"
            " FROM generate_series(1, %s) g",
            (rows,),
        )
        if touches:
            conn.execute(
                "CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS"
                " $$BEGIN NEW.touches := OLD.touches + 1; RETURN NEW; END$$"
            )
            conn.execute(
                "CREATE TRIGGER count_touch BEFORE UPDATE ON users"
                " FOR EACH ROW EXECUTE FUNCTION count_touch()"
            )
        conn.execute("ANALYZE users")


def spec(**overrides: Any) -> BackfillSpec:
    return BackfillSpec.model_validate({**EMAIL_SPEC, **overrides})


def run(
    db: PgDatabase,
    backfill: BackfillSpec,
    *,
    settings: Settings | None = None,
    index: int = 0,
    progress: Callable[[Any], None] | None = None,
) -> BackfillResult:
    return run_backfill(
        lambda: psycopg.connect(db.dsn),
        schema=SCHEMA,
        migration_id=MIGRATION,
        index=index,
        spec=backfill,
        settings=settings or Settings(),
        progress=progress,
    )


def scalar(db: PgDatabase, query: str, params: tuple[Any, ...] = ()) -> Any:
    with db.connect() as conn:
        row = conn.execute(query, params).fetchone()
        assert row is not None
        return row[0]


def wrong_rows(db: PgDatabase) -> int:
    return int(
        scalar(db, "SELECT count(*) FROM users WHERE email_norm IS DISTINCT FROM lower(email)")
    )


def tempt_parallel_scans(db: PgDatabase) -> None:
    """Make the planner love parallel scans, and add ``seen_by()``: a ``where`` term that
    raises a NOTICE 'pid N' for every row, so a test sees which backends evaluated it.
    Cheapest of all terms, so it is evaluated first."""
    with db.connect(autocommit=True) as conn:
        for setting in (
            "parallel_setup_cost",
            "parallel_tuple_cost",
            "min_parallel_table_scan_size",
        ):
            conn.execute(f"ALTER DATABASE {conn.info.dbname} SET {setting} = 0")
        conn.execute(
            "CREATE FUNCTION seen_by() RETURNS boolean LANGUAGE plpgsql PARALLEL SAFE"
            " COST 0.0001 AS $$BEGIN RAISE NOTICE 'pid %', pg_backend_pid(); RETURN true; END$$"
        )
