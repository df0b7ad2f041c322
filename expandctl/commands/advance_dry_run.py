"""``expandctl advance --dry-run``: show the next phase, and time one backfill batch.

Nothing is kept. For the backfill phase each backfill of the plan (from
``[backfill]`` or from an operation) gets one real batch inside a transaction
that is rolled back, so the operator sees how long a batch holds its row
locks before the real run; every other phase, and a phase advance would
refuse, is only planned (the same report as ``expandctl plan``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from expandctl.commands.plan import PlanReport, plan
from expandctl.engine.backfill import BackfillDryRun, dry_run_batch
from expandctl.engine.connection import connect
from expandctl.model.config import ResolvedConfig
from expandctl.model.phases import Phase
from expandctl.model.steps import BackfillStep, Direction


class AdvanceDryRunReport(BaseModel):
    plan: PlanReport = Field(description="what advance would run (as 'expandctl plan')")
    batches: list[BackfillDryRun] = Field(
        default_factory=list,
        description="backfill phase: one batch per table, run and rolled back",
    )
    executed: bool = Field(
        default=False, description="always false: nothing was committed or recorded"
    )


def dry_run_advance(config: ResolvedConfig, migration_id: str | None = None) -> AdvanceDryRunReport:
    """Plan the next phase; for backfill also time one rolled-back batch per table."""
    report = plan(config, migration_id)
    if (
        report.phase is not Phase.BACKFILL
        or report.direction is not Direction.FORWARD
        or report.nothing_to_do
        or report.refusals
        or report.plan is None
    ):
        return AdvanceDryRunReport(plan=report)
    steps = [s for s in report.plan.steps if isinstance(s, BackfillStep)]
    with connect(config, autocommit=True) as conn:
        batches = [
            dry_run_batch(
                conn,
                index=step.index,
                spec=step.spec,
                settings=config.settings,
            )
            for step in steps
        ]
    return AdvanceDryRunReport(plan=report, batches=batches)
