"""``expandctl status``: every migration on disk and in the database, and what is next."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set
from expandctl.engine.backfill import BackfillCheckpoint, backfill_status
from expandctl.engine.decide import decide_advance, drift, resume_problem
from expandctl.engine.locking import lock_holder
from expandctl.engine.session import read_session
from expandctl.errors import ExpandctlError
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import Migration
from expandctl.model.phases import PHASES, Phase, State
from expandctl.model.planning import plan_phase
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


class StatusReport(BaseModel):
    state_schema: str
    initialized: bool = Field(description="the state schema exists")
    lock_holder: str | None = Field(description="who is changing state right now")
    migrations: list[MigrationStatus]
    interrupted: list[str] = Field(description="ids of migrations stopped mid-phase")
    drifted: list[str]


def status(config: ResolvedConfig) -> StatusReport:
    migrations = load_set(config)
    with read_session(config) as session:
        initialized = session.store.layout_version(session.control) is not None
        records = session.records()
        holder = lock_holder(session.control, session.store.schema)
        server_version = session.server_version
        checkpoints = backfill_status(session.control, schema=session.store.schema)
    rows: list[MigrationStatus] = []
    for migration in migrations.migrations:
        record = records.get(migration.id) or MigrationRecord(id=migration.id)
        decision = decide_advance(migration, migrations, records)
        drifted = [
            DriftItem(phase=d.phase, recorded_checksum=d.recorded, current_checksum=d.current)
            for d in drift(migration, record)
        ]
        edited = _edited_done_steps(migration, record, server_version)
        if edited is not None and record.in_progress is not None:
            decision.refusals.append(edited)
            drifted.append(
                DriftItem(
                    phase=record.in_progress.phase,
                    recorded_checksum=record.in_progress.checksum,
                    current_checksum=migration.phase_checksums[record.in_progress.phase],
                )
            )
        progress = _progress(record, running=holder is not None)
        if progress and progress.interrupted:
            verb = "advance" if progress.direction is Direction.FORWARD else "rollback"
            action = (
                f"INTERRUPTED: 'expandctl {verb} {migration.id}' resumes {progress.phase.value}"
            )
        elif progress:
            action = f"running {progress.phase.value} now"
        elif decision.nothing_to_do:
            action = "complete"
        else:
            assert decision.phase is not None
            action = f"advance runs {decision.phase.value}"
        rows.append(
            MigrationStatus(
                id=migration.id,
                description=migration.description,
                on_disk=True,
                state=record.state,
                next_phase=None if decision.nothing_to_do else decision.phase,
                next_action=action,
                phases=_timings(record),
                drift=drifted,
                in_progress=progress,
                blocked=decision.refusals,
                backfill=_backfill(record, checkpoints),
            )
        )
    for missing in sorted(set(records) - set(migrations.ids)):
        record = records[missing]
        rows.append(
            MigrationStatus(
                id=missing,
                description=None,
                on_disk=False,
                state=record.state,
                next_phase=None,
                next_action="MISSING from disk: restore its folder",
                phases=_timings(record),
                drift=[],
                in_progress=_progress(record, running=holder is not None),
                blocked=[
                    f"{missing} is recorded in the database but not in the migrations directory"
                ],
            )
        )
    return StatusReport(
        state_schema=session.store.schema,
        initialized=initialized,
        lock_holder=holder,
        migrations=rows,
        interrupted=[r.id for r in rows if r.in_progress and r.in_progress.interrupted],
        drifted=[r.id for r in rows if r.drift],
    )


def _edited_done_steps(
    migration: Migration, record: MigrationRecord, server_version: int
) -> str | None:
    """Why an interrupted phase cannot resume with the files as they are (see advance)."""
    progress = record.in_progress
    if progress is None or not progress.step_checksums:
        return None
    try:
        plan = plan_phase(
            migration,
            progress.phase,
            rollback=progress.direction is Direction.ROLLBACK,
            server_version=server_version,
        )
    except ExpandctlError as exc:  # advance will say so itself
        return str(exc)
    problem = resume_problem(migration, progress, plan)
    return problem[0] if problem else None


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
