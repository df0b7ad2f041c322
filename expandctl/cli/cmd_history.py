"""``expandctl history``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.commands.history import history


@click.command("history")
@click.argument("migration_id", required=False)
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N events.")
@format_option()
@pass_app
def history_command(
    app: AppContext, migration_id: str | None, limit: int | None, output_format: str
) -> None:
    """The append-only event log (oldest first), for one migration or all."""
    report = history(app.config, migration_id, limit=limit)
    if output_format == "json":
        echo_json(report)
        return
    if not report.events:
        click.echo("no events recorded")
        return
    for e in report.events:
        took = f" {e.duration_ms}ms" if e.duration_ms is not None else ""
        what = " ".join(
            x
            for x in (e.migration_id, e.phase and e.phase.value, e.direction and e.direction.value)
            if x
        )
        if e.migration_id in report.missing:
            what += " (MISSING from disk)"
        detail = f"  {e.detail}" if e.detail else ""
        click.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S%z}  {what}  {e.action} {e.outcome}{took}  "
            f"{e.os_user}@{e.host} v{e.version}{detail}"
        )
