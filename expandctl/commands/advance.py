"""``expandctl advance``: run the next phase of one, some or every migration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pydantic import BaseModel, Field

from expandctl.engine.backfill import BackfillProgress
from expandctl.engine.decide import (
    Decision,
    decide_advance,
    default_migration,
    resume_problem,
    resumed_progress,
    states_differ,
)
from expandctl.engine.gates import check_gates
from expandctl.engine.runner import run_plan
from expandctl.engine.session import Session, write_session
from expandctl.errors import StateError, UsageError
from expandctl.loader.migrations import load_migrations
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES, Phase
from expandctl.model.planning import plan_phase
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import PhasePlan

Confirm = Callable[[str], bool]
Progress = Callable[[BackfillProgress], None]
log = logging.getLogger("expandctl")


class PhaseRunReport(BaseModel):
    """One phase that ran (or resumed) to completion."""

    migration_id: str
    phase: str
    direction: str
    steps_total: int
    steps_run: int
    resumed_from: int | None = Field(description="0-based step index the run resumed at")
    skipped: list[int] = Field(description="steps found already done by an interrupted run")
    retries: int = Field(description="lock-timeout retries")
    duration_ms: int


class AdvanceReport(BaseModel):
    runs: list[PhaseRunReport] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    current: str | None = Field(default=None, exclude=True)  # the migration being worked on


def load_set(config: ResolvedConfig) -> MigrationSet:
    return load_migrations(Path(config.migrations_path))


def require_migration(migrations: MigrationSet, migration_id: str) -> Migration:
    found = migrations.get(migration_id)
    if found is None:
        # Accept the bare number ("3" or "0003") as a convenience.
        if migration_id.isdigit():
            found = next((m for m in migrations.migrations if m.number == int(migration_id)), None)
        if found is None:
            raise UsageError(
                f"no migration {migration_id!r} in {migrations.directory}",
                hint="see 'expandctl status' for the ids",
            )
    return found


def raise_refusals(decision: Decision) -> None:
    if decision.refusals:
        more = f" (and {len(decision.refusals) - 1} more)" if len(decision.refusals) > 1 else ""
        raise StateError(
            decision.refusals[0] + more,
            hint=decision.hints[0] if decision.hints else None,
        )


def confirm_irreversible(plan: PhasePlan, *, yes: bool, confirm: Confirm | None, what: str) -> None:
    if yes:
        return
    question = f"{what} {plan.phase.value} of {plan.migration_id}: this cannot be undone. Continue?"
    if confirm is None or not confirm(question):
        raise StateError(
            f"{what} {plan.phase.value} of {plan.migration_id} needs confirmation",
            hint="pass --yes (or answer the prompt on a terminal)",
        )


def advance(
    config: ResolvedConfig,
    migration_id: str | None = None,
    *,
    to: Phase | None = None,
    all_migrations: bool = False,
    yes: bool = False,
    confirm: Confirm | None = None,
    progress: Progress | None = None,
) -> AdvanceReport:
    """Run phases; ``progress`` is called after every backfill batch."""
    if all_migrations and migration_id:
        raise UsageError("--all moves every migration; it takes no ID")
    migrations = load_set(config)
    report = AdvanceReport()
    if to is Phase.CONTRACT and not yes:
        # Ask before running anything, not after the phases leading up to it.
        target = migration_id or ("every migration" if all_migrations else "the next migration")
        question = f"advance {target} up to contract, which cannot be undone. Continue?"
        if confirm is None or not confirm(question):
            raise StateError(
                f"--to contract for {target} needs confirmation: contract is irreversible",
                hint="pass --yes (or answer the prompt on a terminal)",
            )
        yes = True
    before: dict[str, MigrationRecord] = {}
    with write_session(config, before_lock=before) as session:
        assert session.run is not None
        session.run.progress = progress
        try:
            _advance(
                session, migrations, before, migration_id, to, all_migrations, yes, confirm, report
            )
        except StateError as refusal:
            session.record_refusal("advance", report.current, refusal)
            raise
    return report


def _advance(
    session: Session,
    migrations: MigrationSet,
    before: dict[str, MigrationRecord],
    migration_id: str | None,
    to: Phase | None,
    all_migrations: bool,
    yes: bool,
    confirm: Confirm | None,
    report: AdvanceReport,
) -> None:
    records = session.records()
    # Another run that changed what this one is about to do makes it stop; one that
    # advanced an unrelated migration meanwhile does not.
    watched = [require_migration(migrations, migration_id).id] if migration_id else migrations.ids
    changed = states_differ(before, records, watched)
    if changed:
        raise StateError(
            f"another expandctl changed {', '.join(changed)} while this one waited for the "
            "lock; nothing was done",
            hint="check 'expandctl status', then run the command again if still needed",
        )
    if all_migrations:
        targets = list(migrations.migrations)
    elif migration_id:
        targets = [require_migration(migrations, migration_id)]
    else:
        chosen = default_migration(migrations, records)
        if chosen is None:
            report.messages.append("nothing to advance: every migration is complete")
            return
        targets = [chosen]
    for migration in targets:
        report.current = migration.id
        _advance_one(
            session,
            migrations,
            migration,
            to,
            yes,
            confirm,
            report,
            quiet_when_done=all_migrations,
        )


def _advance_one(
    session: Session,
    migrations: MigrationSet,
    migration: Migration,
    to: Phase | None,
    yes: bool,
    confirm: Confirm | None,
    report: AdvanceReport,
    *,
    quiet_when_done: bool,
) -> None:
    assert session.run is not None
    while True:
        records = session.records()
        record = records.get(migration.id) or MigrationRecord(id=migration.id)
        if to is not None and record.in_progress is None and record.state.at_least(to):
            if not report.runs or report.runs[-1].migration_id != migration.id:
                report.messages.append(f"{migration.id} is already at {record.state.value}")
            return
        decision = decide_advance(migration, migrations, records)
        if decision.nothing_to_do:
            if not quiet_when_done:
                report.messages.append(decision.nothing_to_do)
            return
        raise_refusals(decision)
        assert decision.phase is not None
        if decision.fresh_start:
            record = record.model_copy(update={"in_progress": None})
        plan = plan_phase(migration, decision.phase, server_version=session.server_version)
        record = resume_with_current_files(session, migration, record, plan)
        if record.in_progress is None:
            check_gates(
                session.run.work,
                plan,
                record,
                session.run.settings,
                session.store.now(session.run.work),
            )
            if plan.irreversible:
                confirm_irreversible(plan, yes=yes, confirm=confirm, what="run")
        run = run_plan(session.run, plan, migration, record)
        report.runs.append(PhaseRunReport(**asdict(run)))
        if to is None or PHASES.index(decision.phase) >= PHASES.index(to):
            return


def resume_with_current_files(
    session: Session, migration: Migration, record: MigrationRecord, plan: PhasePlan
) -> MigrationRecord:
    """Check an interrupted run can resume with the files as they are now, and record them.

    Steps recorded done must be unchanged (else StateError); steps not run
    yet may have been edited, and the run goes on with the edited ones.
    """
    progress = record.in_progress
    if progress is None:
        return record
    problem = resume_problem(migration, progress, plan)
    if problem is not None:
        raise StateError(problem[0], path=Path(migration.path), hint=problem[1])
    current = resumed_progress(migration, progress, plan)
    if not progress.step_checksums or current == progress:
        return record  # older rows: the whole-phase drift check applies instead
    progress = current
    assert session.run is not None
    work = session.run.work
    with work.transaction():
        session.store.mark_started(work, migration.id, progress)
    log.info(
        "the files of %s of %s changed after step %d ran: resuming with them",
        plan.phase.value,
        migration.id,
        progress.next_step,
    )
    return record.model_copy(update={"in_progress": progress})
