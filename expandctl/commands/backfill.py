"""``expandctl backfill pause|resume|status``: steer a running backfill from outside.

Pause and resume flip a flag in the state schema; the running backfill reads it
before every batch, so it stops within one batch and continues where it was.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from expandctl.engine.backfill import (
    BackfillCheckpoint,
    BackfillDryRun,
    backfill_status,
    dry_run_batch,
    set_paused,
)
from expandctl.engine.connection import connect
from expandctl.errors import UsageError
from expandctl.loader.migrations import load_migrations
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import Migration


class BackfillPauseResult(BaseModel):
    migration_id: str
    paused: bool
    running: bool = Field(description="a checkpoint exists that is not finished")


class BackfillStatusReport(BaseModel):
    state_schema: str
    migration_id: str | None
    backfills: list[BackfillCheckpoint]


def _known_migration(config: ResolvedConfig, migration_id: str) -> Migration:
    migrations = load_migrations(Path(config.migrations_path))
    migration = migrations.get(migration_id)
    if migration is None:
        raise UsageError(
            f"no migration {migration_id!r} in {migrations.directory}",
            hint="'expandctl list' shows the ids",
        )
    if not migration.manifest.backfill:
        raise UsageError(f"migration {migration_id} has no [backfill] section")
    return migration


def pause_backfill(
    config: ResolvedConfig, migration_id: str, *, paused: bool
) -> BackfillPauseResult:
    """Ask the backfill of ``migration_id`` to stop (or go on) before its next batch."""
    _known_migration(config, migration_id)
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
        _known_migration(config, migration_id)
    schema = config.settings.state_schema
    with connect(config, autocommit=True) as conn:
        rows = backfill_status(conn, schema=schema, migration_id=migration_id)
    return BackfillStatusReport(state_schema=schema, migration_id=migration_id, backfills=rows)


class BackfillDryRunReport(BaseModel):
    migration_id: str
    batches: list[BackfillDryRun]


def dry_run_backfill(config: ResolvedConfig, migration_id: str) -> BackfillDryRunReport:
    """Run the first batch of every [backfill] table in a transaction and roll it back."""
    migration = _known_migration(config, migration_id)
    with connect(config, autocommit=True) as conn:
        batches = [
            dry_run_batch(conn, index=index, spec=spec, settings=config.settings)
            for index, spec in enumerate(migration.manifest.backfill)
        ]
    return BackfillDryRunReport(migration_id=migration_id, batches=batches)
