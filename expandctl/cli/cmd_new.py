"""``expandctl new``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.commands.new import create_migration
from expandctl.errors import UsageError
from expandctl.model.ops.registry import OPERATION_NAMES
from expandctl.model.ops.scaffold import ScaffoldInput


@click.command("new")
@click.argument("slug")
@click.option("-m", "--description", help="Description written into migration.toml.")
@click.option(
    "--op",
    "op",
    type=click.Choice(OPERATION_NAMES),
    metavar="OPERATION",
    help="Declare this operation instead of writing phase SQL files: "
    + ", ".join(OPERATION_NAMES)
    + ".",
)
@click.option("--table", help="With --op: the table the operation changes.")
@click.option("--column", help="With --op: the column the operation changes.")
@click.option(
    "--to", "to", help="With --op: the new name (column or table), or the referenced table."
)
@click.option("--type", "type_", help="With --op: the SQL type of the (new) column.")
@click.option("--name", "object_name", help="With --op: the index or constraint name.")
@click.option(
    "--requires",
    "requires",
    multiple=True,
    metavar="ID",
    help="Migration whose expand must run first (repeatable). Default: the latest one.",
)
@click.option("--no-requires", is_flag=True, help="Require no earlier migration.")
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
    requires: tuple[str, ...],
    no_requires: bool,
    output_format: str,
) -> None:
    """Create the next numbered migration folder.

    \b
    Examples:
      expandctl new add_users_email
      expandctl new rename_users_name --op rename_column --table users --column name --to full_name

    Without --op it writes migration.toml and the seven phase SQL files, each
    starting with a comment on what belongs in that phase. With --op the
    manifest declares the operation, which generates all five phases; values
    not given on the command line are written as placeholders ("<TABLE>")
    that every command refuses until they are filled in. The new migration
    requires the latest existing one (--requires / --no-requires to change).
    """
    given = {
        "--table": table,
        "--column": column,
        "--to": to,
        "--type": type_,
        "--name": object_name,
    }
    if op is None and any(v is not None for v in given.values()):
        named = [flag for flag, value in given.items() if value is not None]
        flags = ", ".join(named)
        raise UsageError(
            f"{flags} {'is' if len(named) == 1 else 'are'} only used with --op"
            " (to fill in the declared operation); nothing was created",
            hint=f"add --op OPERATION, e.g. --op drop_column; or leave {flags} out",
        )
    if no_requires and requires:
        raise UsageError("--no-requires and --requires contradict each other")
    operation = (
        ScaffoldInput(op=op, table=table, column=column, to=to, type=type_, name=object_name)
        if op
        else None
    )
    chosen = [] if no_requires else (list(requires) or None)
    created = create_migration(app.config, slug, description, operation, chosen)
    if output_format == "json":
        echo_json(created)
        return
    click.echo(f"created {created.path}/")
    if not app.quiet:
        for name in created.files:
            click.echo(f"  {name}")
        if created.requires:
            click.echo(f"requires {', '.join(created.requires)}")
