"""``expandctl rollback ID``: undo the last completed phase with its .down.sql."""

from __future__ import annotations

from dataclasses import asdict

from expandctl.commands.advance import (
    AdvanceReport,
    Confirm,
    PhaseRunReport,
    load_set,
    note_accepted_risk,
    record_for_run,
    require_migration,
)
from expandctl.commands.phase import derive_phase, refuse
from expandctl.engine.decide import states_differ
from expandctl.engine.runner import run_plan
from expandctl.engine.session import write_session
from expandctl.errors import ConfirmationNeeded, StateError, UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import Direction


def rollback(
    config: ResolvedConfig,
    migration_id: str,
    *,
    yes: bool = False,
    confirm: Confirm | None = None,
    accept_risk: str | None = None,
) -> AdvanceReport:
    """Undo the last completed phase; ``accept_risk`` as for ``advance``."""
    if accept_risk is not None and not accept_risk.strip():
        raise UsageError('--accept-risk needs a reason, e.g. --accept-risk "table has 10 rows"')
    migrations = load_set(config)
    migration = require_migration(migrations, migration_id)
    report = AdvanceReport()
    before: dict[str, MigrationRecord] = {}
    with write_session(config, before_lock=before) as session:
        try:
            assert session.run is not None
            records = session.records()
            if states_differ(before, records, [migration.id]):
                raise StateError(
                    f"another expandctl changed {migration.id} while this one waited for the lock; "
                    "nothing was done",
                    hint="check 'expandctl status', then run the command again if still needed",
                )
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
                return report
            refuse(view)
            plan = view.plan
            assert plan is not None
            if view.needs_confirmation and not yes:
                question = (
                    f"roll back {plan.phase.value} of {migration.id} "
                    f"({len(plan.steps)} steps)? Run 'expandctl plan {migration.id} --rollback' "
                    "to see them. Continue?"
                )
                if confirm is None or not confirm(question):
                    raise ConfirmationNeeded(
                        f"rolling back {plan.phase.value} of {migration.id} needs confirmation",
                        hint="pass --yes (or answer the prompt on a terminal)",
                    )
            record = record_for_run(session, view)
            note_accepted_risk(session, view, report)
            run = run_plan(session.run, plan, migration, record)
            report.runs.append(PhaseRunReport(**asdict(run)))
        except StateError as refusal:
            session.record_refusal("rollback", migration.id, refusal)
            raise
    return report
