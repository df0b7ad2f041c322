"""``expandctl list``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option, style
from expandctl.commands.listing import list_migrations


@click.command("list")
@format_option()
@pass_app
def list_command(app: AppContext, output_format: str) -> None:
    """Show the migrations found on disk, in order, with their description."""
    listing = list_migrations(app.config)
    if output_format == "json":
        echo_json(listing)
        return
    if not listing.migrations:
        click.echo(f"no migrations in {listing.directory}")
        return
    width = max(len(m.id) for m in listing.migrations)
    for m in listing.migrations:
        click.echo(f"{style(m.id.ljust(width), bold=True)}  {m.description}")
