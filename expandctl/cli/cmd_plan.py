"""``expandctl plan``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.cli.phase_output import PHASE_CHOICE, render_plan
from expandctl.commands.plan import plan
from expandctl.errors import StateError
from expandctl.model.phases import Phase


@click.command("plan")
@click.argument("migration_id", required=False)
@click.option("--rollback", is_flag=True, help="Plan the rollback of the last completed phase.")
@click.option(
    "--phase",
    type=PHASE_CHOICE,
    help="Plan this phase from the files alone, without a database.",
)
@format_option()
@pass_app
def plan_command(
    app: AppContext, migration_id: str | None, rollback: bool, phase: str | None, output_format: str
) -> None:
    """Show the exact steps and SQL the next advance (or --rollback) would run.

    Executes nothing. Catalog checks show as one line and function bodies are
    folded: -v shows them in full. Shows the lint findings of exactly these steps, and the
    gates as they stand now. Exits 4 whenever advance would refuse (state,
    drift, error-level lint findings, failed checks, a gate that does not
    hold; the reasons are shown), else 0.
    """
    report = plan(
        app.config, migration_id, rollback=rollback, phase=Phase(phase) if phase else None
    )
    if output_format == "json":
        echo_json(report)
    else:
        render_plan(report, verbose=app.verbose)
    if report.refusals:
        click.get_current_context().exit(StateError.exit_code)
