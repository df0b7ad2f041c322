"""After the last batch: count the rows of the whole table still matching ``where``.

This includes rows written while the backfill ran; if the sync trigger missed
any, the count is not zero and the phase fails, so switch-reads cannot start.
"""

from __future__ import annotations

from typing import Any

import psycopg

from expandctl.engine.backfill.keyset import KeysetSql
from expandctl.engine.backfill.spec_check import resolve_table
from expandctl.errors import StateError
from expandctl.model.backfill import BackfillSpec


def count_remaining(conn: psycopg.Connection[Any], sql: KeysetSql, processes: int = 1) -> int:
    """The whole-table count, on at most ``processes`` cores (a parallel scan).

    By default on one: a parallel scan would take every core of a small server
    for its duration; measured, that alone doubled the application's p99 during
    a backfill (docs/performance.md). A parallel pass whose workers had the
    server to themselves at the end passes their number: the count then takes
    no more of the server than the batches just did.
    """
    with conn.transaction():
        # never more than the server's own setting allows (a DBA's 0 stays 0)
        conn.execute(
            "SELECT set_config('max_parallel_workers_per_gather',"
            " least(current_setting('max_parallel_workers_per_gather')::int, %s)::text, true)",
            (max(0, processes - 1),),
        )
        row = conn.execute(sql.remaining()).fetchone()
    return int(row[0]) if row else 0


def raise_if_remaining(
    remaining: int, migration_id: str, index: int, table: str, spec: BackfillSpec
) -> None:
    if remaining == 0:
        return
    raise StateError(
        f"backfill {migration_id}[{index}] verification failed: {remaining} row(s) of {table}"
        f" still match where = {spec.where!r}",
        hint="rows written during the backfill were not kept in sync (check the expand"
        " phase's sync trigger); fix the cause, then run advance again for another pass",
    )


def remaining_rows(conn: psycopg.Connection[Any], spec: BackfillSpec) -> int:
    """Rows still matching ``where`` now: for a switch-reads gate that re-checks."""
    info = resolve_table(conn, spec)
    return count_remaining(conn, KeysetSql(info.ident, info.key, info.key_types, spec))
