"""Run planned operation steps against a real database, and snapshot its catalog.

Before the engine runs operations itself, these tests execute the steps the
way it will: consecutive transactional steps in one transaction, autocommit
steps alone, backfills as keyset batches until nothing matches ``where``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from expandctl.model.operations import Operation
from expandctl.model.ops.base import OperationBase
from expandctl.model.ops.registry import plan_operations
from expandctl.model.phases import PHASES, Phase
from expandctl.model.steps import BackfillStep, SqlStep, Step

MIGRATION_ID = "0042_test_op"


def parse(raw: dict[str, Any]) -> OperationBase:
    from pydantic import TypeAdapter

    op = TypeAdapter(Operation).validate_python(raw)
    assert isinstance(op, OperationBase)
    return op


def plan(
    ops: Sequence[OperationBase], phase: Phase, *, rollback: bool = False, version: int = 18
) -> list[Step]:
    return plan_operations(
        ops, phase, rollback=rollback, migration_id=MIGRATION_ID, server_version=version
    )


def _with_retries(conn: psycopg.Connection[Any], action: Any) -> None:
    # Like the engine: a short lock_timeout, retried, so clients never queue behind us.
    for attempt in range(200):
        try:
            action()
            return
        except pg_errors.LockNotAvailable:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            time.sleep(0.01 * min(attempt + 1, 10))
    raise AssertionError("lock never became available")


def run_steps(dsn: str, steps: Sequence[Step]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '200ms'")
        group: list[SqlStep] = []

        def flush() -> None:
            if not group:
                return
            batch = list(group)
            group.clear()

            def run_group() -> None:
                with conn.transaction():
                    for step in batch:
                        conn.execute(step.sql.encode())

            _with_retries(conn, run_group)

        for step in steps:
            if isinstance(step, SqlStep) and not step.autocommit:
                group.append(step)
                continue
            flush()
            if isinstance(step, SqlStep):
                _with_retries(conn, lambda s=step: conn.execute(s.sql.encode()))
            elif isinstance(step, BackfillStep):
                _backfill(conn, step)
        flush()


def _backfill(conn: psycopg.Connection[Any], step: BackfillStep) -> None:
    spec = step.spec
    key = (spec.key or ["id"])[0]
    sets = ", ".join(f'"{col}" = {expr}' for col, expr in spec.set.items())
    statement = (
        f'UPDATE {spec.table} SET {sets} WHERE "{key}" IN'
        f' (SELECT "{key}" FROM {spec.table} WHERE {spec.where} ORDER BY 1 LIMIT 500)'
    )
    while True:
        cur = conn.execute(statement.encode())
        if cur.rowcount == 0:
            return


def run_phase(
    dsn: str, ops: Sequence[OperationBase], phase: Phase, *, rollback: bool = False
) -> None:
    run_steps(dsn, plan(ops, phase, rollback=rollback))


SNAPSHOT_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    "relations": """
        SELECT c.relname, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p', 'i')""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
    "indexes": """
        SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relnamespace = 'public'::regnamespace""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace""",
    "functions": """
        SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'""",
}


def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """The schema as data: equal snapshots mean an identical public schema."""
    with psycopg.connect(dsn) as conn:
        return {
            name: sorted(conn.execute(query).fetchall(), key=repr)
            for name, query in SNAPSHOT_QUERIES.items()
        }


def forward_rollback_forward(dsn: str, ops: Sequence[OperationBase]) -> None:
    """Every phase forward; each reversible one undone (schema must be as before) and redone."""
    for phase in PHASES:
        before = snapshot(dsn)
        run_phase(dsn, ops, phase)
        if phase.reversible:
            run_phase(dsn, ops, phase, rollback=True)
            assert snapshot(dsn) == before, f"rolling back {phase.value} left the schema changed"
            run_phase(dsn, ops, phase)


def query(dsn: str, text: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(text, params or None).fetchall()
