"""``expandctl advance``: run the next phase of one, some or every migration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from expandctl.commands.phase import PhaseView, derive_phase, refuse
from expandctl.engine import lanes
from expandctl.engine.backfill import BackfillProgress
from expandctl.engine.decide import (
    default_migration,
    in_flight,
    missing_records,
    missing_refusal,
    renamed_from,
    renamed_refusal,
    resumed_progress,
    states_differ,
)
from expandctl.engine.empty_phase import record_empty_phase
from expandctl.engine.runner import run_plan
from expandctl.engine.session import Session, write_session
from expandctl.errors import (
    ConfirmationNeeded,
    Declined,
    ExpandctlError,
    HazardRefused,
    Interrupted,
    StateError,
    UsageError,
)
from expandctl.lint import Finding
from expandctl.loader.migrations import load_migrations
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES, Phase
from expandctl.model.planning import plan_phase
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import Direction, PhasePlan
from expandctl.model.words import plural

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


class StopReport(BaseModel):
    """Why ``advance --all`` stopped before its end."""

    reason: Literal["refused", "needs-confirmation", "declined", "failed"]
    migration_id: str | None = Field(description="the migration it stopped at")
    message: str
    hint: str | None = None
    exit_code: int = Field(description="what the command exits with")
    findings: list[Finding] = Field(
        default_factory=list, description="refused for lint: the error-level findings"
    )


class AdvanceReport(BaseModel):
    runs: list[PhaseRunReport] = Field(default_factory=list, description="phases run, in order")
    messages: list[str] = Field(default_factory=list)
    stopped: StopReport | None = Field(
        default=None, description="--all only: why the run stopped early (None: it did not)"
    )
    current: str | None = Field(default=None, exclude=True)  # the migration being worked on
    running: Phase | None = Field(default=None, exclude=True)  # the phase being run, if any


def interrupted(report: AdvanceReport, verb: str) -> Interrupted:
    """What Ctrl-C left behind, and the command that goes on from there.

    The runner records every step group and every backfill batch as it commits
    and leaves the phase marked in progress; a group cut short is rolled back.
    """
    if report.running is None or report.current is None:
        ran = f" after {plural(len(report.runs), 'phase')} finished" if report.runs else ""
        return Interrupted(f"interrupted{ran}; no phase was running, nothing is half-done")
    saved = (
        "batches committed so far are saved"
        if report.running is Phase.BACKFILL and verb == "advance"
        else "steps recorded done are saved, a step cut short was rolled back"
    )
    return Interrupted(
        f"interrupted during {report.running.value} of {report.current}; {saved}",
        hint=f"run 'expandctl {verb} {report.current}' to resume; "
        "'expandctl status' shows where it stopped",
    )


def load_set(config: ResolvedConfig, *, state_read: bool = False) -> MigrationSet:
    """``state_read``: the command reads the recorded state, which judges a ``requires``
    naming a folder that is gone (a deleted migration, not necessarily a typo)."""
    return load_migrations(Path(config.migrations_path), missing_requires_ok=state_read)


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


def ask(confirm: Confirm | None, question: str, subject: str) -> None:
    """Ask on a terminal; without one, --yes is needed (4); a "no" changes nothing (5)."""
    if confirm is None:
        raise ConfirmationNeeded(
            f"{subject} needs confirmation",
            hint="pass --yes; there is no terminal to ask on",
        )
    if not confirm(question):
        raise Declined(subject)


def confirm_irreversible(plan: PhasePlan, *, yes: bool, confirm: Confirm | None, what: str) -> None:
    if yes:
        return
    question = f"{what} {plan.phase.value} of {plan.migration_id}: this cannot be undone. Continue?"
    ask(confirm, question, f"{what} {plan.phase.value} of {plan.migration_id}")


def stop_report(stop: ExpandctlError, migration_id: str | None) -> StopReport:
    if isinstance(stop, Declined):
        return StopReport(
            reason="declined",
            migration_id=migration_id,
            message=f"answered no to {stop.subject}: it did not run",
            exit_code=stop.exit_code,
        )
    if isinstance(stop, ConfirmationNeeded):
        reason: Literal["refused", "needs-confirmation", "failed"] = "needs-confirmation"
    elif isinstance(stop, StateError):
        reason = "refused"
    else:
        reason = "failed"
    findings = stop.findings if isinstance(stop, HazardRefused) else []
    return StopReport(
        reason=reason,
        migration_id=migration_id,
        message=stop.message if stop.location is None else f"{stop.location}: {stop.message}",
        hint=stop.hint,
        exit_code=stop.exit_code,
        findings=[f for f in findings if isinstance(f, Finding)],
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
    accept_risk: str | None = None,
) -> AdvanceReport:
    """Run phases; ``progress`` is called after every backfill batch.

    With ``all_migrations``, a run that stops early (refusal, confirmation
    needed, failure) returns the phases it ran with ``stopped`` saying why;
    otherwise the stop is raised. ``accept_risk`` is the recorded reason to
    run a phase despite error-level lint findings.
    """
    if all_migrations and migration_id:
        raise UsageError("--all moves every migration; it takes no ID")
    if accept_risk is not None and (all_migrations or to is not None):
        raise UsageError(
            "--accept-risk accepts the findings of one phase: drop --all/--to and name it"
        )
    if accept_risk is not None and not accept_risk.strip():
        raise UsageError('--accept-risk needs a reason, e.g. --accept-risk "table has 10 rows"')
    migrations = load_set(config, state_read=True)
    report = AdvanceReport()
    if (
        to is Phase.CONTRACT
        and not yes
        and _contract_runs_something(config, migrations, migration_id)
    ):
        # Ask before running anything, not after the phases leading up to it.
        target = migration_id or ("every migration" if all_migrations else "the next migration")
        question = f"advance {target} up to contract, which cannot be undone. Continue?"
        ask(confirm, question, f"--to contract for {target} (contract is irreversible)")
        yes = True
    before: dict[str, MigrationRecord] = {}
    try:
        with write_session(config, before_lock=before) as session:
            assert session.run is not None
            session.run.progress = progress
            asked = _Request(config, migration_id, to, all_migrations, yes, confirm, accept_risk)
            try:
                _advance(session, migrations, before, asked, report)
            except ExpandctlError as stop:
                if isinstance(stop, StateError):
                    session.record_refusal("advance", report.current, stop)
                if not all_migrations:
                    raise
                report.stopped = stop_report(stop, report.current)
    except KeyboardInterrupt:
        raise interrupted(report, "advance") from None
    return report


def _empty_ahead(migration: Migration, done: Phase, config: ResolvedConfig) -> list[str]:
    """After a phase: the phases right after it that run nothing and wait for no gate,
    and the one command that records them all (rather than one advance each)."""
    empty: list[Phase] = []
    phase = done.next
    while phase is not None:
        try:
            plan = plan_phase(
                migration, phase, rollback=False, server_version=config.settings.pg_version
            )
        except ExpandctlError:
            break
        if plan.steps or plan.gates:
            break
        empty.append(phase)
        phase = phase.next
    if not empty:
        return []
    names = [p.value for p in empty]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "runs" if len(names) == 1 else "run"
    return [
        f"next: {listed} {verb} nothing; 'expandctl advance {migration.id} --to {names[-1]}' "
        "records them in one go"
        + (" (contract too: after it there is no rollback)" if Phase.CONTRACT in empty else "")
    ]


def _contract_runs_something(
    config: ResolvedConfig, migrations: MigrationSet, migration_id: str | None
) -> bool:
    """Whether ``--to contract`` may destroy something (then it is confirmed up front).

    Only a named migration whose contract runs no step is known not to; its
    phases on the way are each confirmed as usual if they need it.
    """
    if migration_id is None:
        return True
    migration = require_migration(migrations, migration_id)
    try:
        plan = plan_phase(
            migration, Phase.CONTRACT, rollback=False, server_version=config.settings.pg_version
        )
    except ExpandctlError:
        return True  # advance will refuse it with the reason; ask as before
    return bool(plan.steps)


@dataclass(frozen=True)
class _Request:
    """What one ``advance`` was asked to do."""

    config: ResolvedConfig
    migration_id: str | None
    to: Phase | None
    all_migrations: bool
    yes: bool
    confirm: Confirm | None
    accept_risk: str | None


def _advance(
    session: Session,
    migrations: MigrationSet,
    before: dict[str, MigrationRecord],
    asked: _Request,
    report: AdvanceReport,
) -> None:
    # Read with the lock held. A phase run re-reads it: while a backfill ran without
    # the schema lock (engine.lanes), other runs may have advanced other migrations.
    records = session.records()
    # Another run that changed what this one is about to do makes it stop; one that
    # advanced an unrelated migration meanwhile does not.
    migration_id = asked.migration_id
    watched = [require_migration(migrations, migration_id).id] if migration_id else migrations.ids
    changed = states_differ(before, records, watched)
    if changed:
        raise StateError(
            f"another expandctl changed {', '.join(changed)} while this one waited for the "
            "lock; nothing was done",
            hint="check 'expandctl status', then run the command again if still needed",
        )
    missing = missing_records(migrations, records)
    _refuse_missing_in_flight(migrations, records, missing)
    schema = session.store.schema
    # Backfills running in another expandctl right now (engine.lanes): never chosen.
    busy = lanes.running(
        session.control, schema, [mid for mid, r in records.items() if r.in_progress]
    )
    if asked.all_migrations:
        targets = list(migrations.migrations)
    elif migration_id:
        targets = [require_migration(migrations, migration_id)]
    else:
        chosen = default_migration(migrations, records, skip=busy)
        report.messages.extend(
            f"{mid} is running in another expandctl ({holder}); left to it"
            for mid, holder in busy.items()
        )
        if chosen is None:
            report.messages.append(
                "nothing else to advance"
                if busy
                else "nothing to advance: every migration is complete"
            )
            return
        targets = [chosen]
    for migration in targets:
        if asked.all_migrations and migration.id in busy:
            report.messages.append(
                f"{migration.id} is running in another expandctl ({busy[migration.id]}); skipped"
            )
            continue
        report.current = migration.id
        # Taken before anything is derived or written for it; run_plan takes it again.
        with lanes.lane(session.control, schema, migration.id):
            _advance_one(session, migrations, records, missing, migration, asked, report)


def _refuse_missing_in_flight(
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    missing: list[MigrationRecord],
) -> None:
    """An in-flight migration whose folder is gone stops every advance, before anything runs.

    When a never-run migration on disk has its files, say it looks renamed.
    """
    gone = [r for r in missing if in_flight(r)]
    if not gone:
        return
    also = f" (and {len(gone) - 1} more MISSING in flight)" if len(gone) > 1 else ""
    for migration in migrations.migrations:
        record = records.get(migration.id) or MigrationRecord(id=migration.id)
        old = renamed_from(migration, record, gone)
        if old is not None:
            message, hint = renamed_refusal(migration, old)
            raise StateError(message + also, hint=hint)
    message, hint = missing_refusal(gone[0], migrations.directory)
    raise StateError(message + also, hint=hint)


def _advance_one(
    session: Session,
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    missing: list[MigrationRecord],
    migration: Migration,
    asked: _Request,
    report: AdvanceReport,
) -> None:
    assert session.run is not None
    to = asked.to
    while True:
        record = records.get(migration.id) or MigrationRecord(id=migration.id)
        if to is not None and record.in_progress is None and record.state.at_least(to):
            if not report.runs or report.runs[-1].migration_id != migration.id:
                report.messages.append(f"{migration.id} is already at {record.state.value}")
            return
        view = derive_phase(
            session,
            migration,
            migrations,
            records,
            Direction.FORWARD,
            settings=asked.config.settings,
            accept_risk=asked.accept_risk,
            missing=missing,
        )
        if view.nothing_to_do:
            if not asked.all_migrations:
                report.messages.append(view.nothing_to_do)
            return
        refuse(view)
        assert view.plan is not None
        if view.needs_confirmation:
            confirm_irreversible(view.plan, yes=asked.yes, confirm=asked.confirm, what="run")
        record = record_for_run(session, view)
        note_accepted_risk(session, view, report)
        report.running = view.plan.phase
        if not view.plan.steps and record.in_progress is None:
            run, records[migration.id] = record_empty_phase(
                session.run, view.plan, migration, record
            )
        else:
            run = run_plan(session.run, view.plan, migration, record)
            # What the run recorded (a failed run stops here), and what others did meanwhile.
            records.clear()
            records.update(session.records())
        report.running = None
        report.runs.append(PhaseRunReport(**asdict(run)))
        if to is None or PHASES.index(view.plan.phase) >= PHASES.index(to):
            if not asked.all_migrations:
                report.messages.extend(_empty_ahead(migration, view.plan.phase, asked.config))
            return


def record_for_run(session: Session, view: PhaseView) -> MigrationRecord:
    """The record ``run_plan`` starts from: an interrupted run that did nothing is forgotten;
    one whose not-yet-run steps were edited goes on with the edited ones (recorded first).
    """
    record = view.record
    progress = record.in_progress
    if view.resume.fresh_start:
        return record.model_copy(update={"in_progress": None})
    if progress is None or view.resume.changed_after is None or not progress.step_checksums:
        return record  # older rows: the whole-phase drift check applies instead
    assert view.plan is not None and session.run is not None
    current = resumed_progress(view.migration, progress, view.plan)
    if current == progress:
        return record
    work = session.run.work
    with work.transaction():
        # Fenced like every work transaction: only while this run still owns the migration.
        session.run.fence.check(work, what=view.migration.id, committed="nothing")
        session.store.mark_started(work, view.migration.id, current)
    log.info(
        "the files of %s of %s changed after step %d ran: resuming with them",
        view.plan.phase.value,
        view.migration.id,
        current.next_step,
    )
    return record.model_copy(update={"in_progress": current})


def note_accepted_risk(session: Session, view: PhaseView, report: AdvanceReport) -> None:
    """``--accept-risk``: the accepted rule ids and the reason go to history before it runs."""
    if view.accepted_risk is None or not view.lint_errors:
        return
    assert session.run is not None and view.plan is not None
    rules = ", ".join(sorted({f.rule_id for f in view.lint_errors}))
    detail = f"accepted {rules}: {view.accepted_risk}"
    session.store.append_event(
        session.control,
        session.run.actor,
        action="accept-risk",
        outcome="accepted",
        migration_id=view.migration.id,
        phase=view.plan.phase,
        direction=view.plan.direction,
        detail=detail,
        secrets=session.run.secrets,
    )
    report.messages.append(f"{view.migration.id} {view.plan.phase.value}: {detail}")
