"""``expandctl new``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.commands.new import create_migration


@click.command("new")
@click.argument("slug")
@click.option("-m", "--description", help="Description written into migration.toml.")
@format_option()
@pass_app
def new_command(app: AppContext, slug: str, description: str | None, output_format: str) -> None:
    """Create the next numbered migration folder, e.g. ``expandctl new add_users_email``."""
    created = create_migration(app.config, slug, description)
    if output_format == "json":
        echo_json(created)
        return
    click.echo(f"created {created.path}/")
    if not app.quiet:
        for name in created.files:
            click.echo(f"  {name}")
