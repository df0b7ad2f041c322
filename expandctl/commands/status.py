"""``expandctl status``: every migration on disk and in the database, and what is next."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set
from expandctl.commands.phase import PhaseView, derive_phase
from expandctl.engine import lanes
from expandctl.engine.backfill import BackfillCheckpoint, backfill_status
from expandctl.engine.connection import Connection
from expandctl.engine.decide import describe_record, drift, missing_records
from expandctl.engine.locking import lock_holder
from expandctl.engine.session import read_session
from expandctl.errors import ExpandctlError
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import Migration
from expandctl.model.phases import PHASES, Phase, State
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import Direction


class PhaseTiming(BaseModel):
    phase: Phase
    started_at: datetime
    finished_at: datetime
    duration_s: float
    by: str = Field(description="user@host that ran it")


class DriftItem(BaseModel):
    phase: Phase
    recorded_checksum: str
    current_checksum: str
    files: list[str] = Field(default_factory=list, description="the files that changed")


class InProgressStatus(BaseModel):
    phase: Phase
    direction: Direction
    steps_done: int
    total_steps: int
    started_at: datetime
    by: str
    running: bool = Field(description="an expandctl holds the lock right now")
    interrupted: bool = Field(description="nobody is running it: resume with advance/rollback")


class MigrationStatus(BaseModel):
    id: str
    description: str | None = Field(description="None when the folder is missing from disk")
    on_disk: bool
    state: State
    next_phase: Phase | None = Field(description="what the next advance runs")
    next_action: str = Field(description="the next command, in words")
    phases: list[PhaseTiming]
    drift: list[DriftItem]
    in_progress: InProgressStatus | None
    blocked: list[str] = Field(description="why the next advance would refuse")
    backfill: list[BackfillCheckpoint] | None = Field(
        default=None,
        description="checkpoints of a running or interrupted backfill (None when there is none)",
    )
    backfill_waiting: str | None = Field(
        default=None, description="why the running backfill waits, and since when"
    )


class StatusReport(BaseModel):
    database: str = Field(
        description="the database read: user@host:port/dbname (never the password)"
    )
    embedded: bool = Field(description="the embedded PostgreSQL under .expandctl/ (--embedded)")
    state_schema: str
    initialized: bool = Field(description="the state schema exists")
    lock_holder: str | None = Field(description="who is changing state right now")
    migrations: list[MigrationStatus]
    interrupted: list[str] = Field(description="ids of migrations stopped mid-phase")
    drifted: list[str]


def status(config: ResolvedConfig) -> StatusReport:
    migrations = load_set(config, state_read=True)
    rows: list[MigrationStatus] = []
    with read_session(config) as session:
        initialized = session.store.layout_version(session.control) is not None
        records = session.records()
        holder = lock_holder(session.control, session.store.schema)
        # A run holds its migration's lane throughout, even while a backfill has handed
        # the schema lock back; a run that holds the lock may be about to resume any.
        in_progress = [mid for mid, r in records.items() if r.in_progress is not None]
        running = set(lanes.running(session.control, session.store.schema, in_progress))
        if holder is not None:
            running.update(in_progress)
        checkpoints = backfill_status(session.control, schema=session.store.schema)
        database = connected_to(session.control)
        missing = missing_records(migrations, records)
        for migration in migrations.migrations:
            record = records.get(migration.id) or MigrationRecord(id=migration.id)
            progress = _progress(record, running=migration.id in running)
            # Mid-rollback, the next command is rollback: show what it would do.
            direction = record.in_progress.direction if record.in_progress else Direction.FORWARD
            try:
                view = derive_phase(
                    session,
                    migration,
                    migrations,
                    records,
                    direction,
                    settings=config.settings,
                    missing=missing,
                )
            except ExpandctlError as exc:  # advance will say so itself
                rows.append(_unplannable(migration, record, progress, str(exc)))
                continue
            rows.append(_row(view, progress, checkpoints))
        # only while a run runs it: a wait record left by a run that died is stale
        live = [r.id for r in rows if r.in_progress and r.id in running]
        for mid, wait in session.store.current_waits(session.control, live).items():
            row = next(r for r in rows if r.id == mid)
            row.backfill_waiting = f"{wait.reason} since {wait.since:%H:%M:%S %Z}"
    rows.extend(_missing_row(record, running=record.id in running) for record in missing)
    return StatusReport(
        database=database,
        embedded=config.embedded,
        state_schema=session.store.schema,
        initialized=initialized,
        lock_holder=holder,
        migrations=rows,
        interrupted=[r.id for r in rows if r.in_progress and r.in_progress.interrupted],
        drifted=[r.id for r in rows if r.drift],
    )


def _row(
    view: PhaseView, progress: InProgressStatus | None, checkpoints: list[BackfillCheckpoint]
) -> MigrationStatus:
    migration, record = view.migration, view.record
    drifted = _drift_items(migration, record)
    if view.resume.problem is not None and record.in_progress is not None:
        drifted.append(
            DriftItem(
                phase=record.in_progress.phase,
                recorded_checksum=record.in_progress.checksum,
                current_checksum=migration.phase_checksums[record.in_progress.phase],
            )
        )
    if progress and progress.interrupted:
        verb = "advance" if progress.direction is Direction.FORWARD else "rollback"
        action = f"INTERRUPTED: 'expandctl {verb} {migration.id}' resumes {progress.phase.value}"
    elif progress:
        action = f"running {progress.phase.value} now"
    elif view.nothing_to_do:
        action = "complete"
    else:
        assert view.phase is not None
        action = f"advance runs {view.phase.value}"
    forward = view.direction is Direction.FORWARD
    return MigrationStatus(
        id=migration.id,
        description=migration.description,
        on_disk=True,
        state=record.state,
        next_phase=view.phase if forward and not view.nothing_to_do else None,
        next_action=action,
        phases=_timings(record),
        drift=drifted,
        in_progress=progress,
        blocked=[r.message for r in view.refusals],
        backfill=_backfill(record, checkpoints),
    )


def _missing_row(record: MigrationRecord, *, running: bool) -> MigrationStatus:
    """A recorded migration whose folder is gone: restore it, or forget it (renamed or not)."""
    action = (
        f"MISSING from disk: restore its folder, or 'expandctl forget {record.id}' "
        "(--renamed-to NEW_ID if it was renamed)"
    )
    return MigrationStatus(
        id=record.id,
        description=None,
        on_disk=False,
        state=record.state,
        next_phase=None,
        next_action=action,
        phases=_timings(record),
        drift=[],
        in_progress=_progress(record, running=running),
        blocked=[
            f"{record.id} is recorded {describe_record(record)} in the database "
            "but not in the migrations directory"
        ],
    )


def _unplannable(
    migration: Migration,
    record: MigrationRecord,
    progress: InProgressStatus | None,
    problem: str,
) -> MigrationStatus:
    """A migration whose next phase cannot even be planned (its files are broken)."""
    return MigrationStatus(
        id=migration.id,
        description=migration.description,
        on_disk=True,
        state=record.state,
        next_phase=None,
        next_action="cannot be planned: fix its files",
        phases=_timings(record),
        drift=_drift_items(migration, record),
        in_progress=progress,
        blocked=[problem],
    )


def _drift_items(migration: Migration, record: MigrationRecord) -> list[DriftItem]:
    return [
        DriftItem(
            phase=d.phase,
            recorded_checksum=d.recorded,
            current_checksum=d.current,
            files=list(d.files),
        )
        for d in drift(migration, record)
    ]


def _backfill(
    record: MigrationRecord, checkpoints: list[BackfillCheckpoint]
) -> list[BackfillCheckpoint] | None:
    """Checkpoints worth showing: a backfill phase under way (or stopped), not a finished one."""
    p = record.in_progress
    if p is None or p.phase is not Phase.BACKFILL or p.direction is not Direction.FORWARD:
        return None
    mine = [c for c in checkpoints if c.migration_id == record.id]
    return mine or None


def _timings(record: MigrationRecord) -> list[PhaseTiming]:
    return [
        PhaseTiming(
            phase=phase,
            started_at=done.started_at,
            finished_at=done.finished_at,
            duration_s=round((done.finished_at - done.started_at).total_seconds(), 3),
            by=done.by,
        )
        for phase, done in sorted(record.phases.items(), key=lambda kv: PHASES.index(kv[0]))
    ]


def _progress(record: MigrationRecord, *, running: bool) -> InProgressStatus | None:
    p = record.in_progress
    if p is None:
        return None
    return InProgressStatus(
        phase=p.phase,
        direction=p.direction,
        steps_done=p.next_step,
        total_steps=p.total_steps,
        started_at=p.started_at,
        by=p.by,
        running=running,
        interrupted=not running,
    )


def connected_to(conn: Connection) -> str:
    """Where ``conn`` really is, as the server reports it: user@host:port/dbname."""
    info = conn.info
    host = info.host if not info.host.startswith("/") else f"socket {info.host}"
    return f"{info.user}@{host}:{info.port}/{info.dbname}"
