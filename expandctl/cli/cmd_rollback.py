"""``expandctl rollback``."""

from __future__ import annotations

import click

from expandctl.cli.cmd_advance import render_runs, terminal_confirm
from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import format_option
from expandctl.commands.rollback import rollback


@click.command("rollback")
@click.argument("migration_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@format_option()
@pass_app
def rollback_command(app: AppContext, migration_id: str, yes: bool, output_format: str) -> None:
    """Undo the last completed phase of MIGRATION_ID with its .down.sql.

    Contract cannot be rolled back; a phase without reverse steps is refused.
    """
    report = rollback(app.config, migration_id, yes=yes, confirm=terminal_confirm())
    render_runs(report, output_format)
