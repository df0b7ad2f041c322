"""``expandctl rollback``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import format_option
from expandctl.cli.phase_output import (
    ACCEPT_RISK_HELP,
    render_hazard,
    render_runs,
    terminal_confirm,
)
from expandctl.commands.rollback import rollback
from expandctl.errors import HazardRefused
from expandctl.model.phases import State

STATE_CHOICE = click.Choice([s.value for s in State if s is not State.CONTRACT])


@click.command("rollback")
@click.argument("migration_id")
@click.option(
    "--to",
    "to",
    type=STATE_CHOICE,
    metavar="STATE",
    help="Roll back phase after phase until the migration is at STATE (pending: all of it).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--accept-risk", metavar="REASON", help=ACCEPT_RISK_HELP)
@format_option()
@pass_app
def rollback_command(
    app: AppContext,
    migration_id: str,
    to: str | None,
    yes: bool,
    accept_risk: str | None,
    output_format: str,
) -> None:
    """Undo the last completed phase of MIGRATION_ID with its .down.sql.

    With --to STATE, undo phase after phase until it is at STATE, each
    checked as a single rollback is; the first refusal stops it (exit 4) and
    the phases already rolled back are listed. Contract cannot be rolled back;
    a phase without reverse steps is refused, and so are reverse steps with
    error-level lint findings (unless --accept-risk).
    """
    try:
        report = rollback(
            app.config,
            migration_id,
            to=State(to) if to else None,
            yes=yes,
            confirm=terminal_confirm(),
            accept_risk=accept_risk,
        )
    except HazardRefused as refused:
        render_hazard(refused, output_format)
        raise
    render_runs(report, output_format)
