"""``expandctl plan``: exactly what the next ``advance`` (or ``rollback``) would run.

Executes nothing. It renders the PhaseView ``advance`` derives
(``commands.phase.derive_phase``): the same PhasePlan, the same lint
findings, gates and refusals, so it refuses exactly when advance would.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set, require_migration
from expandctl.commands.phase import PhaseView, Refusal, derive_phase
from expandctl.engine.backfill import plan_backfill_sql, resolve_table
from expandctl.engine.connection import Connection
from expandctl.engine.decide import default_migration, drift
from expandctl.engine.gates import GateStatus
from expandctl.engine.session import read_session
from expandctl.errors import ExpandctlError, UsageError
from expandctl.lint import Finding
from expandctl.model.config import ResolvedConfig
from expandctl.model.phases import Phase, State
from expandctl.model.steps import BackfillStep, CheckStep, Direction, PhasePlan, SqlStep


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
    accepted: list[str] = Field(
        default_factory=list,
        description="lint findings the operation raises here by design: 'RULE reason'",
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
    refusals: list[str] = Field(
        default_factory=list,
        description="why advance would refuse (state, resume, lint errors, checks, gates)",
    )
    hints: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(
        default_factory=list,
        description="lint findings of exactly these steps; any error refuses the phase",
    )
    accepted_risk: str | None = Field(
        default=None, description="the --accept-risk reason the error findings are accepted with"
    )
    needs_confirmation: bool = False
    checks: Literal["pass", "fail", "not-evaluated"] | None = Field(
        default=None,
        description="the catalog checks of these steps, read-only now (None: there are none)",
    )
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
                source=getattr(step, "source", None),
                line=sql_step.line if sql_step else None,
                text=sql_step.sql if sql_step else step.summary,
                done=resume_from is not None and i < resume_from,
                batch_sql=batch_sql,
                batch_key=batch_key,
                accepted=[f"{h.rule_id} {h.reason}" for h in sql_step.accepted] if sql_step else [],
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
    migrations = load_set(config, state_read=phase is None)
    direction = Direction.ROLLBACK if rollback else Direction.FORWARD
    if phase is not None:
        if migration_id is None:
            raise UsageError("--phase needs a migration ID")
        migration = require_migration(migrations, migration_id)
        view = derive_phase(
            None, migration, migrations, {}, direction, settings=config.settings, phase=phase
        )
        return _report(view)
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
        view = derive_phase(
            session, migration, migrations, records, direction, settings=config.settings
        )
        return _report(view, conn=session.control)


def _report(view: PhaseView, *, conn: Connection | None = None) -> PlanReport:
    """The view as shown: its plan is the object advance runs."""
    refusals = view.refusals
    report = PlanReport(
        migration_id=view.migration.id,
        direction=view.direction,
        phase=view.phase,
        from_state=None if view.offline else view.record.state,
        to_state=None,
        offline=view.offline,
        nothing_to_do=view.nothing_to_do,
        refusals=[r.message for r in refusals],
        hints=[r.hint for r in refusals if r.hint],
        findings=view.findings,
        accepted_risk=view.accepted_risk,
    )
    phase_plan = view.plan
    if phase_plan is None:
        return report
    rollback = phase_plan.direction is Direction.ROLLBACK
    resume_from = view.resume.resume_from
    notes = list(phase_plan.notes)
    if view.resume.changed_after is not None:
        notes.append(
            f"the files changed after step {view.resume.changed_after}: advance resumes "
            "with the edited steps"
        )
    if rollback and any(d.phase is phase_plan.phase for d in drift(view.migration, view.record)):
        notes.append(
            f"the files of {phase_plan.phase.value} changed since it ran: the rollback "
            "runs the reverse steps as they are now, not as they were then"
        )
    return report.model_copy(
        update={
            "to_state": State.after(phase_plan.phase.previous if rollback else phase_plan.phase),
            "resume_from": resume_from,
            "gates": [_gate_line(g, offline=view.offline) for g in view.gates],
            "steps": describe(phase_plan, resume_from, conn),
            "notes": notes,
            "needs_confirmation": view.needs_confirmation,
            "checks": _checks(view, refusals),
            "plan": phase_plan,
        }
    )


def _checks(
    view: PhaseView, refusals: list[Refusal]
) -> Literal["pass", "fail", "not-evaluated"] | None:
    assert view.plan is not None
    if not any(isinstance(step, CheckStep) for step in view.plan.steps):
        return None
    if view.offline:
        return "not-evaluated"
    return "fail" if any(r.kind == "check" for r in refusals) else "pass"


def _gate_line(gate: GateStatus, *, offline: bool) -> str:
    """A gate and whether it holds now (SQL gates run read-only, as advance runs them)."""
    if not gate.checked:
        why = "planned offline" if offline else "an interrupted run resumes without gates"
        return f"{gate.summary} (not checked: {why})"
    return f"{gate.summary} ({'not yet: ' + gate.problem if gate.problem else 'holds now'})"
