"""``expandctl new``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.commands.new import create_migration
from expandctl.model.ops.registry import OPERATION_NAMES
from expandctl.model.ops.scaffold import ScaffoldInput


@click.command("new")
@click.argument("slug")
@click.option("-m", "--description", help="Description written into migration.toml.")
@click.option(
    "--op",
    "op",
    type=click.Choice(OPERATION_NAMES),
    help="Scaffold a declarative operation instead of empty phase SQL files.",
)
@click.option("--table", help="Table the operation changes (with --op).")
@click.option("--column", help="Column the operation changes (with --op).")
@click.option("--to", "to", help="New name: column, table or referenced table (with --op).")
@click.option("--type", "type_", help="SQL type of the (new) column (with --op).")
@click.option("--name", "object_name", help="Index or constraint name (with --op).")
@format_option()
@pass_app
def new_command(
    app: AppContext,
    slug: str,
    description: str | None,
    op: str | None,
    table: str | None,
    column: str | None,
    to: str | None,
    type_: str | None,
    object_name: str | None,
    output_format: str,
) -> None:
    """Create the next numbered migration folder, e.g. ``expandctl new add_users_email``.

    With ``--op``, the manifest declares an operation that generates all five
    phases, e.g. ``expandctl new rename_users_name --op rename_column
    --table users --column name --to full_name``.
    """
    operation = (
        ScaffoldInput(op=op, table=table, column=column, to=to, type=type_, name=object_name)
        if op
        else None
    )
    created = create_migration(app.config, slug, description, operation)
    if output_format == "json":
        echo_json(created)
        return
    click.echo(f"created {created.path}/")
    if not app.quiet:
        for name in created.files:
            click.echo(f"  {name}")
