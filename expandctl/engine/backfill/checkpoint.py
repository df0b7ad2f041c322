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
from expandctl.engine.backfill.ranges import workers_of

CHECKPOINTS = "backfill_checkpoints"
CONTROL = "backfill_control"
RANGES = "backfill_ranges"


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
    # A range of a parallel pass (its row in backfill_ranges), else None: the pass's row.
    range_no: int | None = None
    first_key: list[str] | None = None  # the range's exclusive lower bound


def _ident(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def ensure_tables(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the tables once (see engine/layout.py): no DDL at all when they exist."""
    layout.ensure(conn, schema)


def _tables_exist(conn: psycopg.Connection[Any], schema: str) -> bool:
    return layout.tables_exist(conn, schema, CHECKPOINTS, CONTROL)


def _ranges_exist(conn: psycopg.Connection[Any], schema: str) -> bool:
    """False in a state schema of layout 2 that no new expandctl has upgraded yet."""
    return layout.tables_exist(conn, schema, RANGES)


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
    if cp.range_no is not None:
        _save_range(conn, schema, migration_id, index, cp)
        return
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


def _save_range(
    conn: psycopg.Connection[Any], schema: str, migration_id: str, index: int, cp: Checkpoint
) -> None:
    conn.execute(
        _save_range_query(schema),
        (
            migration_id,
            index,
            cp.range_no,
            cp.pass_number,
            cp.first_key,
            cp.last_key,
            cp.end_key,
            cp.rows_done,
            cp.rows_scanned,
            cp.batches,
            cp.retries,
            cp.last_batch_size,
            cp.last_batch_ms,
            cp.busy_seconds,
        ),
    )


@cache
def _save_range_query(schema: str) -> bytes:
    # Each worker upserts only its own row: workers never wait on each other's checkpoints.
    return (
        sql.SQL(
            "INSERT INTO {} (migration_id, idx, range_no, pass_number, first_key, last_key,"
            " end_key, rows_done, rows_scanned, batches, retries, last_batch_size,"
            " last_batch_ms, busy_seconds)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (migration_id, idx, range_no) DO UPDATE SET"
            " pass_number = excluded.pass_number, first_key = excluded.first_key,"
            " last_key = excluded.last_key, end_key = excluded.end_key,"
            " rows_done = excluded.rows_done, rows_scanned = excluded.rows_scanned,"
            " batches = excluded.batches, retries = excluded.retries,"
            " last_batch_size = excluded.last_batch_size,"
            " last_batch_ms = excluded.last_batch_ms, busy_seconds = excluded.busy_seconds,"
            " updated_at = now()"
        )
        .format(_ident(schema, RANGES))
        .as_bytes(None)
    )


def load_ranges(
    conn: psycopg.Connection[Any], schema: str, migration_id: str, index: int, parent: Checkpoint
) -> list[Checkpoint]:
    """The ranges of ``parent``'s pass, in key order; empty for a one-worker pass."""
    rows = conn.execute(
        sql.SQL(
            "SELECT range_no, first_key, last_key, end_key, rows_done, rows_scanned, batches,"
            " retries, last_batch_size, last_batch_ms, busy_seconds FROM {}"
            " WHERE migration_id = %s AND idx = %s AND pass_number = %s ORDER BY range_no"
        ).format(_ident(schema, RANGES)),
        (migration_id, index, parent.pass_number),
    ).fetchall()
    return [
        Checkpoint(
            table_name=parent.table_name,
            key_columns=list(parent.key_columns),
            pass_number=parent.pass_number,
            range_no=r[0],
            first_key=r[1],
            last_key=r[2],
            end_key=r[3],
            rows_done=r[4],
            rows_scanned=r[5],
            batches=r[6],
            retries=r[7],
            last_batch_size=r[8],
            last_batch_ms=r[9],
            busy_seconds=r[10],
        )
        for r in rows
    ]


def replace_ranges(
    conn: psycopg.Connection[Any],
    schema: str,
    migration_id: str,
    index: int,
    ranges: list[Checkpoint],
) -> None:
    """Forget earlier passes' ranges and record these; call inside the pass's transaction."""
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE migration_id = %s AND idx = %s").format(
            _ident(schema, RANGES)
        ),
        (migration_id, index),
    )
    for cp in ranges:
        _save_range(conn, schema, migration_id, index, cp)


def begin_batch(
    conn: psycopg.Connection[Any],
    schema: str,
    migration_id: str,
    *,
    lock_timeout_ms: int,
    statement_timeout_ms: int,
    wait_for_flush: bool = True,
) -> psycopg.Cursor[Any]:
    """Queue the batch's timeouts and the pause-flag read as one statement.

    ``wait_for_flush=False`` commits the batch with ``synchronous_commit = off``;
    otherwise the session's own setting stays. In pipeline mode the answer comes
    with the next sync; read it with :func:`paused_result`.
    """
    return conn.execute(
        _begin_query(schema),
        (
            f"{lock_timeout_ms}ms",
            f"{statement_timeout_ms}ms",
            None if wait_for_flush else "off",
            migration_id,
        ),
    )


@cache
def _begin_query(schema: str) -> bytes:
    return (
        sql.SQL(
            "SELECT set_config('lock_timeout', %s, true),"
            " set_config('statement_timeout', %s, true),"
            " set_config('synchronous_commit',"
            " coalesce(%s, current_setting('synchronous_commit')), true),"
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
    tables = [CHECKPOINTS, CONTROL] + ([RANGES] if _ranges_exist(conn, schema) else [])
    with conn.transaction():
        for table in tables:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE migration_id = %s").format(_ident(schema, table)),
                (migration_id,),
            )


def backfill_status(
    conn: psycopg.Connection[Any], *, schema: str, migration_id: str | None = None
) -> list[BackfillCheckpoint]:
    """Every checkpoint of a migration (or of all migrations), for ``status``.

    A parallel pass adds up its ranges: rows, batches and retries are the
    pass row's (done before a split) plus every range's.
    """
    if not _tables_exist(conn, schema):
        return []
    ranges: sql.Composable = sql.SQL("SELECT NULL::bigint AS n")
    if _ranges_exist(conn, schema):
        ranges = sql.SQL(
            "SELECT count(*) AS n, sum(rows_done) AS rows_done, sum(batches) AS batches,"
            " sum(retries) AS retries, max(last_batch_size) AS last_batch_size,"
            " max(last_batch_ms) AS last_batch_ms,"
            " sum(busy_seconds) AS busy_seconds,"
            " max(updated_at) AS updated_at FROM {} r"
            " WHERE r.migration_id = c.migration_id AND r.idx = c.idx"
            " AND r.pass_number = c.pass_number"
        ).format(_ident(schema, RANGES))
    query = sql.SQL(
        "SELECT c.*, coalesce(k.paused, false) AS paused, r.n AS r_n,"
        " to_jsonb(r) AS r FROM {} c"
        " LEFT JOIN {} k USING (migration_id) LEFT JOIN LATERAL ({}) r ON true"
        " WHERE %s::text IS NULL OR c.migration_id = %s ORDER BY c.migration_id, c.idx"
    ).format(_ident(schema, CHECKPOINTS), _ident(schema, CONTROL), ranges)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (migration_id, migration_id)).fetchall()
    return [_to_model(r) for r in rows]


def _to_model(r: dict[str, Any]) -> BackfillCheckpoint:
    busy = float(r["busy_seconds"] or 0.0)
    started: datetime | None = r["started_at"]
    rate = (r["rows_done"] / busy) if busy > 0 else 0.0
    if r["r_n"]:  # a parallel pass: add up its ranges
        ranges: dict[str, Any] = r["r"]
        r = dict(r)
        r["rows_done"] += int(ranges["rows_done"] or 0)
        r["batches"] += int(ranges["batches"] or 0)
        r["retries"] += int(ranges["retries"] or 0)
        r["last_batch_size"] = int(ranges["last_batch_size"] or 0)
        r["last_batch_ms"] = float(ranges["last_batch_ms"] or 0.0)
        # a worker's rows per second inside batches, times the workers running at once
        busy_ranges = float(ranges["busy_seconds"] or 0.0)
        workers = workers_of(int(r["r_n"]))
        rate = int(ranges["rows_done"] or 0) / busy_ranges * workers if busy_ranges > 0 else 0.0
        if ranges["updated_at"]:  # the last batch of any range
            r["updated_at"] = max(r["updated_at"], datetime.fromisoformat(ranges["updated_at"]))
        if not r["finished"]:
            r["last_key"] = None  # one per range; see the ranges for where each stands
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
        rows_per_second=rate,
        workers=workers_of(int(r["r_n"])) if r["r_n"] else 1,
        ranges=int(r["r_n"] or 0),
        paused=r["paused"],
        finished=r["finished"],
        remaining=r["remaining"],
        started_at=started,
        updated_at=r["updated_at"],
        finished_at=r["finished_at"],
    )
