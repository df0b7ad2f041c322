"""A backfill checkpoint's numbers, each labelled with what it counts.

``rows_done`` counts rows *updated* in the current pass, across every run of
it (a resume adds to it); the estimate counts the table's rows, some of which
need no update, so their ratio is not progress and is not shown as a percent.
Two rates, both over the pass: the real one, rows updated per second of wall
clock since the pass started (throttle waits, pauses and any time it was
stopped included), and the rate while batches ran (``rows_per_second`` as
the checkpoint reports it: rows over the time spent inside batches only).
"""

from __future__ import annotations

from expandctl.engine.backfill import BackfillCheckpoint


def wall_rate(cp: BackfillCheckpoint) -> float | None:
    """Rows updated per second of wall clock since the pass started (None: unknown yet)."""
    end = cp.finished_at or cp.updated_at
    if cp.started_at is None or end is None:
        return None
    seconds = (end - cp.started_at).total_seconds()
    return cp.rows_done / seconds if seconds > 0 else None


def rates(cp: BackfillCheckpoint) -> str:
    overall = wall_rate(cp)
    shown = "?" if overall is None else f"{overall:,.0f}"
    return (
        f"{shown} rows/s since the pass started (waits and pauses included),"
        f" {cp.rows_per_second:,.0f} rows/s while batches ran"
    )


def rows(cp: BackfillCheckpoint) -> str:
    """Rows updated in this pass (all its runs), next to the table's size."""
    if cp.rows_estimate > 0:
        table = f"table ~{cp.rows_estimate:,} rows"
    else:
        table = "table size unknown: never analyzed"
    return f"{cp.rows_done:,} rows updated in pass {cp.pass_number}, all runs ({table})"
