"""The checkpoint table: one row per (migration, backfill index), written with each batch.

A batch and its checkpoint commit together, so after a crash at most the one
uncommitted batch is redone (and the ``where`` guard makes that harmless).
A second small table holds the pause flag that ``expandctl backfill pause``
flips and the runner reads before every batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from expandctl.engine import layout
from expandctl.engine.backfill.models import BackfillCheckpoint

CHECKPOINTS = "backfill_checkpoints"
CONTROL = "backfill_control"


@dataclass
class Checkpoint:
    """The mutable working copy the runner keeps in step with its row."""

    table_name: str
    key_columns: list[str]
    last_key: list[str] | None = None
    end_key: list[str] | None = None
    pass_number: int = 1
    rows_done: int = 0
    rows_scanned: int = 0
    rows_estimate: int = 0
    batches: int = 0
    retries: int = 0
    last_batch_size: int = 0
    last_batch_ms: float = 0.0
    busy_seconds: float = 0.0
    finished: bool = False
    remaining: int | None = None


def _ident(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def ensure_tables(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the tables once (see engine/layout.py): no DDL at all when they exist."""
    layout.ensure(conn, schema)


def _tables_exist(conn: psycopg.Connection[Any], schema: str) -> bool:
    return layout.tables_exist(conn, schema, CHECKPOINTS, CONTROL)


def load(
    conn: psycopg.Connection[Any], schema: str, migration_id: str, index: int
) -> Checkpoint | None:
    row = conn.execute(
        sql.SQL(
            "SELECT table_name, key_columns, last_key, end_key, pass_number, rows_done,"
            " rows_scanned, rows_estimate, batches, retries, last_batch_size, last_batch_ms,"
            " busy_seconds, finished, remaining FROM {} WHERE migration_id = %s AND idx = %s"
        ).format(_ident(schema, CHECKPOINTS)),
        (migration_id, index),
    ).fetchone()
    return Checkpoint(*row) if row else None


def save(
    conn: psycopg.Connection[Any],
    schema: str,
    migration_id: str,
    index: int,
    cp: Checkpoint,
) -> None:
    """Upsert the row; call inside the batch's transaction."""
    conn.execute(
        _save_query(schema),
        (
            migration_id,
            index,
            cp.table_name,
            cp.key_columns,
            cp.last_key,
            cp.end_key,
            cp.pass_number,
            cp.rows_done,
            cp.rows_scanned,
            cp.rows_estimate,
            cp.batches,
            cp.retries,
            cp.last_batch_size,
            cp.last_batch_ms,
            cp.busy_seconds,
            cp.finished,
            cp.remaining,
            cp.finished,
        ),
    )


@cache
def _save_query(schema: str) -> bytes:
    # Rendered once per schema: it runs with every batch.
    return (
        sql.SQL(
            "INSERT INTO {} AS c (migration_id, idx, table_name, key_columns, last_key, end_key,"
            " pass_number, rows_done, rows_scanned, rows_estimate, batches, retries,"
            " last_batch_size, last_batch_ms, busy_seconds, finished, remaining, finished_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " CASE WHEN %s THEN now() END)"
            " ON CONFLICT (migration_id, idx) DO UPDATE SET"
            " table_name = excluded.table_name, key_columns = excluded.key_columns,"
            " last_key = excluded.last_key, end_key = excluded.end_key,"
            " pass_number = excluded.pass_number, rows_done = excluded.rows_done,"
            " rows_scanned = excluded.rows_scanned,"
            " rows_estimate = excluded.rows_estimate, batches = excluded.batches,"
            " retries = excluded.retries, last_batch_size = excluded.last_batch_size,"
            " last_batch_ms = excluded.last_batch_ms, busy_seconds = excluded.busy_seconds,"
            " finished = excluded.finished, remaining = excluded.remaining,"
            " finished_at = excluded.finished_at, updated_at = now(),"
            " started_at = CASE WHEN c.pass_number <> excluded.pass_number"
            "   THEN now() ELSE c.started_at END"
        )
        .format(_ident(schema, CHECKPOINTS))
        .as_bytes(None)
    )


def begin_batch(
    conn: psycopg.Connection[Any],
    schema: str,
    migration_id: str,
    *,
    lock_timeout_ms: int,
    statement_timeout_ms: int,
) -> psycopg.Cursor[Any]:
    """Queue the batch's timeouts and the pause-flag read as one statement.

    In pipeline mode the answer comes with the next sync; read it with
    :func:`paused_result`.
    """
    return conn.execute(
        _begin_query(schema),
        (f"{lock_timeout_ms}ms", f"{statement_timeout_ms}ms", migration_id),
    )


@cache
def _begin_query(schema: str) -> bytes:
    return (
        sql.SQL(
            "SELECT set_config('lock_timeout', %s, true),"
            " set_config('statement_timeout', %s, true),"
            " coalesce((SELECT paused FROM {} WHERE migration_id = %s), false)"
        )
        .format(_ident(schema, CONTROL))
        .as_bytes(None)
    )


def paused_result(cur: psycopg.Cursor[Any]) -> bool:
    row = cur.fetchone()
    return bool(row and row[-1])


def is_paused(conn: psycopg.Connection[Any], schema: str, migration_id: str) -> bool:
    row = conn.execute(
        sql.SQL("SELECT paused FROM {} WHERE migration_id = %s").format(_ident(schema, CONTROL)),
        (migration_id,),
    ).fetchone()
    return bool(row and row[0])


def set_paused(
    conn: psycopg.Connection[Any], *, schema: str, migration_id: str, paused: bool
) -> None:
    """Flip the flag a running backfill obeys before its next batch."""
    ensure_tables(conn, schema)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (migration_id, paused) VALUES (%s, %s)"
                " ON CONFLICT (migration_id) DO UPDATE"
                " SET paused = excluded.paused, updated_at = now()"
            ).format(_ident(schema, CONTROL)),
            (migration_id, paused),
        )


def reset_backfill(conn: psycopg.Connection[Any], *, schema: str, migration_id: str) -> None:
    """Forget the checkpoints (the backfill phase was rolled back)."""
    if not _tables_exist(conn, schema):
        return
    with conn.transaction():
        for table in (CHECKPOINTS, CONTROL):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE migration_id = %s").format(_ident(schema, table)),
                (migration_id,),
            )


def backfill_status(
    conn: psycopg.Connection[Any], *, schema: str, migration_id: str | None = None
) -> list[BackfillCheckpoint]:
    """Every checkpoint of a migration (or of all migrations), for ``status``."""
    if not _tables_exist(conn, schema):
        return []
    query = sql.SQL(
        "SELECT c.*, coalesce(k.paused, false) AS paused FROM {} c"
        " LEFT JOIN {} k USING (migration_id)"
        " WHERE %s::text IS NULL OR c.migration_id = %s ORDER BY c.migration_id, c.idx"
    ).format(_ident(schema, CHECKPOINTS), _ident(schema, CONTROL))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (migration_id, migration_id)).fetchall()
    return [_to_model(r) for r in rows]


def _to_model(r: dict[str, Any]) -> BackfillCheckpoint:
    busy = float(r["busy_seconds"] or 0.0)
    started: datetime | None = r["started_at"]
    return BackfillCheckpoint(
        migration_id=r["migration_id"],
        index=r["idx"],
        table=r["table_name"],
        key=list(r["key_columns"]),
        last_key=r["last_key"],
        end_key=r["end_key"],
        pass_number=r["pass_number"],
        rows_done=r["rows_done"],
        rows_estimate=r["rows_estimate"],
        batches=r["batches"],
        retries=r["retries"],
        last_batch_size=r["last_batch_size"],
        last_batch_ms=r["last_batch_ms"],
        rows_per_second=(r["rows_done"] / busy) if busy > 0 else 0.0,
        paused=r["paused"],
        finished=r["finished"],
        remaining=r["remaining"],
        started_at=started,
        updated_at=r["updated_at"],
        finished_at=r["finished_at"],
    )
