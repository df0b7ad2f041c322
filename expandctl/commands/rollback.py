"""``expandctl rollback ID [--to STATE]``: undo completed phases with their .down.sql.

Without ``--to``, the last completed phase. With ``--to``, phase after phase
back to STATE (``pending`` undoes the migration), each derived and refused
exactly as a single rollback is; the first refusal stops the run, and the
report lists what was rolled back before it.
"""

from __future__ import annotations

from dataclasses import asdict

from expandctl.commands.advance import (
    AdvanceReport,
    Confirm,
    PhaseRunReport,
    ask,
    interrupted,
    load_set,
    note_accepted_risk,
    record_for_run,
    require_migration,
    stop_report,
)
from expandctl.commands.phase import derive_phase, refuse
from expandctl.engine import lanes
from expandctl.engine.decide import states_differ
from expandctl.engine.runner import run_plan
from expandctl.engine.session import Session, write_session
from expandctl.errors import ExpandctlError, StateError, UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES, Phase, State
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import Direction
from expandctl.model.words import plural


def rollback(
    config: ResolvedConfig,
    migration_id: str,
    *,
    to: State | None = None,
    yes: bool = False,
    confirm: Confirm | None = None,
    accept_risk: str | None = None,
) -> AdvanceReport:
    """Undo the last completed phase, or every phase back to ``to``.

    ``accept_risk`` as for ``advance`` (one phase only). With ``to``, a
    refusal or failure part-way returns the phases rolled back so far with
    ``stopped`` saying why; without it, the refusal is raised.
    """
    if accept_risk is not None and not accept_risk.strip():
        raise UsageError('--accept-risk needs a reason, e.g. --accept-risk "table has 10 rows"')
    if accept_risk is not None and to is not None:
        raise UsageError("--accept-risk accepts the findings of one phase: drop --to")
    if to is State.CONTRACT:
        raise UsageError("--to names the state to go back to; contract is the last one")
    migrations = load_set(config)
    migration = require_migration(migrations, migration_id)
    report = AdvanceReport(current=migration.id)
    before: dict[str, MigrationRecord] = {}
    try:
        with (
            write_session(config, before_lock=before) as session,
            # Taken before anything is derived or written for it; run_plan takes it again.
            lanes.lane(session.control, session.store.schema, migration.id),
        ):
            assert session.run is not None
            records = session.records()
            try:
                if states_differ(before, records, [migration.id]):
                    raise StateError(
                        f"another expandctl changed {migration.id} while this one waited for "
                        "the lock; nothing was done",
                        hint="check 'expandctl status', then run the command again if needed",
                    )
                if to is None:
                    _rollback_one(
                        session,
                        migration,
                        migrations,
                        records,
                        report,
                        config,
                        yes,
                        confirm,
                        accept_risk,
                    )
                else:
                    _rollback_to(
                        session, migration, migrations, records, report, config, to, yes, confirm
                    )
            except StateError as refusal:
                session.record_refusal("rollback", migration.id, refusal)
                raise
    except KeyboardInterrupt:
        raise interrupted(report, "rollback") from None
    return report


def _rollback_to(
    session: Session,
    migration: Migration,
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    report: AdvanceReport,
    config: ResolvedConfig,
    to: State,
    yes: bool,
    confirm: Confirm | None,
) -> None:
    """Phase after phase back to ``to``; the first refusal stops it, with what ran listed."""
    record = records.get(migration.id) or MigrationRecord(id=migration.id)
    undo = _phases_to_undo(record, to)
    if not undo:
        report.messages.append(f"{migration.id} is already at {record.state.value}")
        return
    if not yes:
        names = ", ".join(p.value for p in undo)
        ask(
            confirm,
            f"roll back {migration.id} to {to.value}: {plural(len(undo), 'phase')} ({names}), "
            f"each with its .down.sql. Run 'expandctl plan {migration.id} --rollback' to see "
            "the first. Continue?",
            f"rolling back {migration.id} to {to.value}",
        )
        yes = True
    for _ in undo:
        try:
            _rollback_one(session, migration, migrations, records, report, config, yes, None, None)
        except ExpandctlError as stop:
            if isinstance(stop, StateError):
                session.record_refusal("rollback", migration.id, stop)
            report.stopped = stop_report(stop, migration.id)
            return
        records[migration.id] = session.store.load_one(session.control, migration.id)


def _phases_to_undo(record: MigrationRecord, to: State) -> list[Phase]:
    """The phases between the recorded state (or an interrupted rollback) and ``to``."""
    progress = record.in_progress
    top = progress.phase if progress is not None else record.state.phase
    if top is None:
        return []
    floor = to.phase
    lowest = 0 if floor is None else floor.position + 1
    return [p for p in reversed(PHASES) if lowest <= p.position <= top.position]


def _rollback_one(
    session: Session,
    migration: Migration,
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    report: AdvanceReport,
    config: ResolvedConfig,
    yes: bool,
    confirm: Confirm | None,
    accept_risk: str | None,
) -> None:
    """One phase, as a single ``rollback`` runs it: derived, refused, confirmed, run."""
    assert session.run is not None
    view = derive_phase(
        session,
        migration,
        migrations,
        records,
        Direction.ROLLBACK,
        settings=config.settings,
        accept_risk=accept_risk,
    )
    if view.nothing_to_do:
        report.messages.append(view.nothing_to_do)
        return
    refuse(view)
    plan = view.plan
    assert plan is not None
    if view.needs_confirmation and not yes:
        question = (
            f"roll back {plan.phase.value} of {migration.id} "
            f"({plural(len(plan.steps), 'step')})? Run 'expandctl plan {migration.id} "
            "--rollback' to see them. Continue?"
        )
        ask(confirm, question, f"rolling back {plan.phase.value} of {migration.id}")
    record = record_for_run(session, view)
    note_accepted_risk(session, view, report)
    report.running = plan.phase
    run = run_plan(session.run, plan, migration, record)
    report.running = None
    report.runs.append(PhaseRunReport(**asdict(run)))
