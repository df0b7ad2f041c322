"""``expandctl plan``: exactly what the next ``advance`` (or ``rollback``) would run.

Executes nothing. The PhasePlan shown is the object ``advance`` would hand
to the runner, built by the same planner from the same decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import psycopg
from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set, require_migration
from expandctl.engine.backfill import plan_backfill_sql, resolve_table
from expandctl.engine.connection import Connection
from expandctl.engine.decide import (
    decide_advance,
    decide_rollback,
    default_migration,
    drift,
    resume_problem,
)
from expandctl.engine.gates import soak_problem
from expandctl.engine.session import read_session
from expandctl.errors import ExpandctlError, UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.phases import Phase, State
from expandctl.model.planning import plan_phase
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import BackfillStep, Direction, GateCheck, PhasePlan, SqlStep


class PlannedStep(BaseModel):
    number: int = Field(description="1-based position in the phase")
    kind: Literal["sql", "check", "backfill", "reset-backfill"]
    mode: Literal["transaction", "autocommit"]
    source: str | None = Field(description="file (or operation) the step comes from")
    line: int | None
    text: str = Field(description="the SQL, or what the step does")
    done: bool = Field(description="already recorded done by an interrupted run")
    batch_sql: str | None = Field(
        default=None,
        description="backfill steps: the statements each batch runs, with :named placeholders",
    )
    batch_key: list[str] | None = Field(
        default=None,
        description="backfill steps: the key the batches walk; None = resolved at run time",
    )


class PlanReport(BaseModel):
    migration_id: str | None
    direction: Direction
    phase: Phase | None
    from_state: State | None
    to_state: State | None
    offline: bool = Field(description="planned from files only, without reading the database")
    nothing_to_do: str | None = None
    resume_from: int | None = Field(default=None, description="0-based step to resume at")
    gates: list[str] = Field(default_factory=list)
    steps: list[PlannedStep] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    refusals: list[str] = Field(default_factory=list, description="why advance would refuse")
    hints: list[str] = Field(default_factory=list)
    needs_confirmation: bool = False
    plan: PhasePlan | None = Field(default=None, description="the plan object advance runs")


def describe(
    plan: PhasePlan, resume_from: int | None = None, conn: Connection | None = None
) -> list[PlannedStep]:
    """The steps as shown; with ``conn``, backfill batch keys come from the live catalog."""
    out: list[PlannedStep] = []
    for i, step in enumerate(plan.steps):
        sql_step = step if isinstance(step, SqlStep) else None
        batch_sql, batch_key = None, None
        if isinstance(step, BackfillStep):
            batch_key = _batch_key(conn, step) if conn is not None else step.spec.key
            batch_sql = plan_backfill_sql(step.spec, key=batch_key)
        out.append(
            PlannedStep(
                number=i + 1,
                kind=step.kind,
                mode="autocommit" if step.autocommit else "transaction",
                source=sql_step.source if sql_step else None,
                line=sql_step.line if sql_step else None,
                text=sql_step.sql if sql_step else step.summary,
                done=resume_from is not None and i < resume_from,
                batch_sql=batch_sql,
                batch_key=batch_key,
            )
        )
    return out


def _batch_key(conn: Connection, step: BackfillStep) -> list[str] | None:
    """The key ``advance`` would walk: the manifest's, else the table's primary key.

    Before expand has run the table or its columns may not exist yet; then the
    manifest's key (or none) is shown and the runner resolves it when it starts.
    """
    try:
        return list(resolve_table(conn, step.spec).key)
    except (ExpandctlError, psycopg.Error):
        return step.spec.key


def plan(
    config: ResolvedConfig,
    migration_id: str | None = None,
    *,
    rollback: bool = False,
    phase: Phase | None = None,
) -> PlanReport:
    migrations = load_set(config)
    direction = Direction.ROLLBACK if rollback else Direction.FORWARD
    if phase is not None:
        if migration_id is None:
            raise UsageError("--phase needs a migration ID")
        migration = require_migration(migrations, migration_id)
        phase_plan = plan_phase(
            migration, phase, rollback=rollback, server_version=config.settings.pg_version
        )
        return _report(phase_plan, None, offline=True)
    with read_session(config) as session:
        records = session.records()
        if migration_id is not None:
            migration = require_migration(migrations, migration_id)
        else:
            found = default_migration(migrations, records)
            if found is None:
                return PlanReport(
                    migration_id=None,
                    direction=direction,
                    phase=None,
                    from_state=None,
                    to_state=None,
                    offline=False,
                    nothing_to_do="every migration is complete",
                )
            migration = found
        decide = decide_rollback if rollback else decide_advance
        decision = decide(migration, migrations, records)
        record = records.get(migration.id) or MigrationRecord(id=migration.id)
        base = PlanReport(
            migration_id=migration.id,
            direction=direction,
            phase=decision.phase,
            from_state=record.state,
            to_state=None,
            offline=False,
            nothing_to_do=decision.nothing_to_do,
            refusals=decision.refusals,
            hints=decision.hints,
        )
        if decision.nothing_to_do or decision.phase is None:
            return base
        phase_plan = plan_phase(
            migration, decision.phase, rollback=rollback, server_version=session.server_version
        )
        if not rollback:
            now = session.store.now(session.control)
            gates = [_gate_status(g, record, now) for g in phase_plan.gates]
        else:
            gates = []
        report = _report(
            phase_plan,
            None if decision.fresh_start else decision.resume_from,
            offline=False,
            conn=session.control,
        )
        refusals, hints, notes = list(decision.refusals), list(decision.hints), list(report.notes)
        progress = record.in_progress
        if progress is not None and not decision.fresh_start:
            problem = resume_problem(migration, progress, phase_plan)
            if problem is not None:
                refusals.append(problem[0])
                hints.append(problem[1])
            elif progress.checksum != migration.phase_checksums[phase_plan.phase]:
                notes.append(
                    f"the files changed after step {progress.next_step}: advance resumes "
                    "with the edited steps"
                )
        if rollback and any(d.phase is phase_plan.phase for d in drift(migration, record)):
            notes.append(
                f"the files of {phase_plan.phase.value} changed since it ran: the rollback "
                "runs the reverse steps as they are now, not as they were then"
            )
        return report.model_copy(
            update={
                "from_state": record.state,
                "refusals": refusals,
                "hints": hints,
                "notes": notes,
                "gates": gates,
                "needs_confirmation": phase_plan.irreversible
                or (rollback and bool(phase_plan.steps)),
            }
        )


def _report(
    phase_plan: PhasePlan,
    resume_from: int | None,
    *,
    offline: bool,
    conn: Connection | None = None,
) -> PlanReport:
    rollback = phase_plan.direction is Direction.ROLLBACK
    to_state = State.after(phase_plan.phase.previous if rollback else phase_plan.phase)
    return PlanReport(
        migration_id=phase_plan.migration_id,
        direction=phase_plan.direction,
        phase=phase_plan.phase,
        from_state=None,
        to_state=to_state,
        offline=offline,
        resume_from=resume_from,
        gates=[g.summary for g in phase_plan.gates],
        steps=describe(phase_plan, resume_from, conn),
        notes=phase_plan.notes,
        needs_confirmation=phase_plan.irreversible,
        plan=phase_plan,
    )


def _gate_status(gate: GateCheck, record: MigrationRecord, now: datetime) -> str:
    """A gate and whether it holds now; SQL gates run only when advance does."""
    if gate.kind == "sql":
        return f"{gate.summary} (checked when advance runs)"
    problem = soak_problem(gate, record, now)
    return f"{gate.summary} ({'not yet: ' + problem if problem else 'holds now'})"
