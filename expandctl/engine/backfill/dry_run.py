"""``--dry-run``: run the first batch for real inside a transaction, then roll it back."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from expandctl.engine.backfill.keyset import KeysetSql, batch_params, find_upper, plan_text
from expandctl.engine.backfill.models import BackfillDryRun
from expandctl.engine.backfill.sizing import FIRST_AUTO_BATCH
from expandctl.engine.backfill.spec_check import check_statements, resolve_table
from expandctl.engine.backfill.verify import count_remaining
from expandctl.model.backfill import BackfillSpec
from expandctl.model.config import Settings
from expandctl.model.durations import to_milliseconds


def dry_run_batch(
    conn: psycopg.Connection[Any], *, index: int, spec: BackfillSpec, settings: Settings
) -> BackfillDryRun:
    """Time one batch from the start of the key range; nothing is kept."""
    info = resolve_table(conn, spec)
    sql = KeysetSql(info.ident, info.key, info.key_types, spec)
    check_statements(conn, sql.update(lower=True), len(info.key))
    size = spec.batch_size if isinstance(spec.batch_size, int) else FIRST_AUTO_BATCH
    remaining = count_remaining(conn, sql)
    scanned = matched = 0
    elapsed_ms = 0.0
    end = conn.execute(sql.max_key()).fetchone()
    tx = conn.transaction(force_rollback=True)
    with tx:
        conn.execute(
            "SELECT set_config('lock_timeout', %s, true),"
            " set_config('statement_timeout', %s, true)",
            (
                f"{to_milliseconds(spec.lock_timeout or settings.lock_timeout)}ms",
                f"{to_milliseconds(spec.statement_timeout or settings.statement_timeout)}ms",
            ),
        )
        if end is not None:
            started = time.monotonic()
            bound = find_upper(conn, sql, None, list(end), size)
            if bound is not None:
                upper, scanned = bound
                cur = conn.execute(sql.queries.update[False], batch_params(None, upper))
                matched = max(cur.rowcount, 0)
            elapsed_ms = (time.monotonic() - started) * 1000
    return BackfillDryRun(
        index=index,
        table=info.display,
        key=list(info.key),
        batch_size=size,
        rows_scanned=scanned,
        rows_matched=matched,
        batch_ms=elapsed_ms,
        rows_remaining=remaining,
        statement=plan_text(spec, info.key),
    )
