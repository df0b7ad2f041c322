"""``expandctl forget``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.commands.forget import forget


@click.command("forget")
@click.argument("migration_id")
@click.option(
    "--renamed-to",
    metavar="NEW_ID",
    help="The folder was renamed or renumbered to NEW_ID: move the recorded state to it.",
)
@click.option("--reason", required=True, help="Why, in words (recorded in history).")
@format_option()
@pass_app
def forget_command(
    app: AppContext,
    migration_id: str,
    renamed_to: str | None,
    reason: str,
    output_format: str,
) -> None:
    """Drop the recorded state of MIGRATION_ID, whose folder is gone (or move it to NEW_ID).

    Refused while the folder exists. Nothing in the schema changes; the
    reason goes to history.
    """
    report = forget(app.config, migration_id, reason=reason, renamed_to=renamed_to)
    if output_format == "json":
        echo_json(report)
        return
    click.echo(report.message)
