"""``expandctl forget``: account for a recorded migration whose folder is gone.

Two cases, both with a reason recorded in history:

- ``forget OLD --renamed-to NEW``: the folder was renamed or renumbered. The
  recorded state (phases done, checksums, an interrupted run) moves to NEW, so
  NEW carries on where OLD stood and nothing runs twice. NEW's files must be
  what OLD ran (the recorded phase checksums), the same test ``advance`` uses
  to notice a rename.
- ``forget OLD``: the migration was abandoned on purpose; its row is removed
  (and its backfill checkpoints). The database objects it created stay: this
  changes what expandctl remembers, never the schema.

Unlike alembic's ``stamp`` this never marks a phase done that did not run:
it only moves or drops what was recorded.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set, require_migration
from expandctl.engine import lanes
from expandctl.engine.backfill import reset_backfill
from expandctl.engine.decide import describe_record, renamed_from
from expandctl.engine.identity import delete_record, move_record
from expandctl.engine.session import write_session
from expandctl.errors import StateError, UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import Migration
from expandctl.model.phases import Phase, State
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import Direction


class ForgetReport(BaseModel):
    migration_id: str = Field(description="the recorded migration whose folder is gone")
    renamed_to: str | None = Field(description="the migration that took over its state")
    recorded: str = Field(description="where it stood, in words, when it was forgotten")
    reason: str
    message: str


def forget(
    config: ResolvedConfig, migration_id: str, *, reason: str, renamed_to: str | None = None
) -> ForgetReport:
    if not reason.strip():
        raise UsageError('forget needs a reason, e.g. --reason "renumbered after a merge"')
    migrations = load_set(config, state_read=True)
    if migrations.get(migration_id) is not None:
        raise UsageError(
            f"{migration_id} is in {migrations.directory}: forget only drops the record of a "
            "migration whose folder is gone",
            hint=f"to undo its phases use 'expandctl rollback {migration_id}'",
        )
    target = require_migration(migrations, renamed_to) if renamed_to is not None else None
    with write_session(config) as session:
        assert session.run is not None
        records = session.records()
        old = records.get(migration_id)
        if old is None:
            raise UsageError(
                f"no migration {migration_id!r} is recorded in the database",
                hint="'expandctl status' lists the MISSING ones",
            )
        if target is not None:
            _check_takeover(old, target, records)
        recorded = describe_record(old)
        work = session.run.work
        # A backfill of it may still run (without the schema lock): never forget under it.
        with lanes.lane(session.control, session.store.schema, old.id), work.transaction():
            if target is None:
                delete_record(work, session.store, old.id)
                reset_backfill(work, schema=session.store.schema, migration_id=old.id)
                detail = f"forgot {old.id} (was {recorded}): {reason}"
            else:
                move_record(work, session.store, old.id, target.id)
                detail = f"{old.id} renamed to {target.id} (state {recorded} moved): {reason}"
            for mid in dict.fromkeys((old.id, target.id if target else old.id)):
                session.store.append_event(
                    work,
                    session.run.actor,
                    action="forget",
                    outcome="renamed" if target else "forgotten",
                    migration_id=mid,
                    detail=detail,
                    secrets=session.run.secrets,
                )
    return ForgetReport(
        migration_id=old.id,
        renamed_to=target.id if target else None,
        recorded=recorded,
        reason=reason,
        message=detail,
    )


def _check_takeover(
    old: MigrationRecord, target: Migration, records: dict[str, MigrationRecord]
) -> None:
    """NEW may take OLD's state only if it never ran and its files are what OLD ran."""
    mine = records.get(target.id) or MigrationRecord(id=target.id)
    if mine.phases or mine.in_progress or mine.state is not State.PENDING:
        raise StateError(
            f"{target.id} has its own recorded state ({describe_record(mine)}): it cannot "
            f"take over the state of {old.id}",
            hint=f"if it is a different migration, 'expandctl forget {old.id}' without "
            "--renamed-to",
        )
    progress = old.in_progress
    if (
        progress is not None
        and progress.phase is Phase.BACKFILL
        and progress.direction is Direction.FORWARD
    ):
        raise StateError(
            f"{old.id} stopped mid-backfill: its checkpoints belong to that name",
            hint=f"restore the folder as {old.id}, finish the backfill with 'expandctl advance "
            f"{old.id}', then rename it",
        )
    if renamed_from(target, mine, [old]) is None:
        raise StateError(
            f"the files of {target.id} are not what {old.id} ran (the recorded checksums of "
            f"{', '.join(p.value for p in old.phases) or 'its phases'} differ): it is not the "
            "same migration",
            path=target.path,
            hint=f"restore the files of {target.id} as they were when {old.id} ran, or "
            f"'expandctl forget {old.id}' without --renamed-to if they really differ",
        )
