"""``expandctl backfill pause|resume|status|dry-run``: steer a running backfill from outside.

Pause and resume flip a flag in the state schema; the running backfill reads it
before every batch, so it stops within one batch and continues where it was. Which backfills a
migration has comes from its plan (``derive_phase``), so a backfill generated
by an operation (``rename_column``, ``change_column_type`` ...) is steered like
a ``[backfill]`` one.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set, require_migration
from expandctl.commands.phase import derive_phase
from expandctl.engine.backfill import (
    BackfillCheckpoint,
    BackfillDryRun,
    backfill_status,
    dry_run_batch,
    set_paused,
)
from expandctl.engine.connection import connect
from expandctl.errors import UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.phases import Phase
from expandctl.model.steps import BackfillStep, Direction


class BackfillPauseResult(BaseModel):
    migration_id: str
    paused: bool
    running: bool = Field(description="a checkpoint exists that is not finished")


class BackfillStatusReport(BaseModel):
    state_schema: str
    migration_id: str | None
    backfills: list[BackfillCheckpoint]


def _backfill_steps(config: ResolvedConfig, migration_id: str) -> tuple[str, list[BackfillStep]]:
    """The migration's id and the backfill steps its plan runs (``[backfill]`` or operations).

    Accepts every ID form the other commands do (``0010``, ``10``, the full name).
    """
    migrations = load_set(config)
    migration = require_migration(migrations, migration_id)
    view = derive_phase(
        None,
        migration,
        migrations,
        {},
        Direction.FORWARD,
        settings=config.settings,
        phase=Phase.BACKFILL,
    )
    steps = [s for s in view.plan.steps if isinstance(s, BackfillStep)] if view.plan else []
    if not steps:
        raise UsageError(
            f"migration {migration.id} has no backfill",
            path=migration.path,
            hint="neither [backfill] nor an operation of its migration.toml fills rows",
        )
    return migration.id, steps


def pause_backfill(
    config: ResolvedConfig, migration_id: str, *, paused: bool
) -> BackfillPauseResult:
    """Ask the backfill of ``migration_id`` to stop (or go on) before its next batch."""
    migration_id, _ = _backfill_steps(config, migration_id)
    schema = config.settings.state_schema
    with connect(config, autocommit=True) as conn:
        set_paused(conn, schema=schema, migration_id=migration_id, paused=paused)
        checkpoints = backfill_status(conn, schema=schema, migration_id=migration_id)
    return BackfillPauseResult(
        migration_id=migration_id,
        paused=paused,
        running=any(not c.finished for c in checkpoints),
    )


def backfill_progress(
    config: ResolvedConfig, migration_id: str | None = None
) -> BackfillStatusReport:
    """Checkpoints of running, interrupted and finished backfills."""
    if migration_id is not None:
        migration_id, _ = _backfill_steps(config, migration_id)
    schema = config.settings.state_schema
    with connect(config, autocommit=True) as conn:
        rows = backfill_status(conn, schema=schema, migration_id=migration_id)
    return BackfillStatusReport(state_schema=schema, migration_id=migration_id, backfills=rows)


class BackfillDryRunReport(BaseModel):
    migration_id: str
    batches: list[BackfillDryRun]


def dry_run_backfill(config: ResolvedConfig, migration_id: str) -> BackfillDryRunReport:
    """Run the first batch of every backfill of the plan in a transaction and roll it back."""
    migration_id, steps = _backfill_steps(config, migration_id)
    with connect(config, autocommit=True) as conn:
        batches = [
            dry_run_batch(conn, index=step.index, spec=step.spec, settings=config.settings)
            for step in steps
        ]
    return BackfillDryRunReport(migration_id=migration_id, batches=batches)
