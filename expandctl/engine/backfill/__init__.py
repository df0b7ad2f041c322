"""The batched backfill runner: the engine's ``backfill`` phase.

The engine calls :func:`run_backfill` once per ``[[backfill]]`` entry, and the
commands use the checkpoint helpers for ``status`` and ``backfill pause|resume``.
"""

from __future__ import annotations

from expandctl.engine.backfill.checkpoint import backfill_status, reset_backfill, set_paused
from expandctl.engine.backfill.dry_run import dry_run_batch
from expandctl.engine.backfill.keyset import plan_text as plan_backfill_sql
from expandctl.engine.backfill.models import (
    BackfillCheckpoint,
    BackfillDryRun,
    BackfillProgress,
    BackfillResult,
)
from expandctl.engine.backfill.runner import run_backfill
from expandctl.engine.backfill.spec_check import check_expression, resolve_table
from expandctl.engine.backfill.verify import remaining_rows

__all__ = [
    "BackfillCheckpoint",
    "BackfillDryRun",
    "BackfillProgress",
    "BackfillResult",
    "backfill_status",
    "check_expression",
    "dry_run_batch",
    "plan_backfill_sql",
    "remaining_rows",
    "reset_backfill",
    "resolve_table",
    "run_backfill",
    "set_paused",
]
