"""``expandctl rollback ID``: undo the last completed phase with its .down.sql."""

from __future__ import annotations

from dataclasses import asdict

from expandctl.commands.advance import (
    AdvanceReport,
    Confirm,
    PhaseRunReport,
    load_set,
    raise_refusals,
    require_migration,
    resume_with_current_files,
)
from expandctl.engine.decide import decide_rollback, states_differ
from expandctl.engine.runner import run_plan
from expandctl.engine.session import write_session
from expandctl.errors import StateError
from expandctl.model.config import ResolvedConfig
from expandctl.model.planning import plan_phase
from expandctl.model.state import MigrationRecord


def rollback(
    config: ResolvedConfig,
    migration_id: str,
    *,
    yes: bool = False,
    confirm: Confirm | None = None,
) -> AdvanceReport:
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
            decision = decide_rollback(migration, migrations, records)
            if decision.nothing_to_do:
                report.messages.append(decision.nothing_to_do)
                return report
            raise_refusals(decision)
            assert decision.phase is not None
            plan = plan_phase(
                migration, decision.phase, rollback=True, server_version=session.server_version
            )
            record = records.get(migration.id) or MigrationRecord(id=migration.id)
            record = resume_with_current_files(session, migration, record, plan)
            if decision.resume_from is None and plan.steps and not yes:
                question = (
                    f"roll back {plan.phase.value} of {migration.id} "
                    f"({len(plan.steps)} steps)? Run 'expandctl plan {migration.id} --rollback' "
                    "to see them. Continue?"
                )
                if confirm is None or not confirm(question):
                    raise StateError(
                        f"rolling back {plan.phase.value} of {migration.id} needs confirmation",
                        hint="pass --yes (or answer the prompt on a terminal)",
                    )
            run = run_plan(session.run, plan, migration, record)
            report.runs.append(PhaseRunReport(**asdict(run)))
        except StateError as refusal:
            session.record_refusal("rollback", migration.id, refusal)
            raise
    return report
