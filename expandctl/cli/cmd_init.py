"""``expandctl init``."""

from __future__ import annotations

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.commands.init import InitReport, init


@click.command("init")
@click.option(
    "--grant",
    "grant",
    multiple=True,
    metavar="ROLE",
    help="Grant ROLE what every command needs on the state schema (repeatable).",
)
@click.option(
    "--grant-read",
    "grant_read",
    multiple=True,
    metavar="ROLE",
    help="Grant ROLE read access only: status, history, plan, runtime (repeatable).",
)
@click.option(
    "--print-sql",
    is_flag=True,
    help="Print the SQL init would run against this database, and run nothing.",
)
@format_option()
@pass_app
def init_command(
    app: AppContext,
    grant: tuple[str, ...],
    grant_read: tuple[str, ...],
    print_sql: bool,
    output_format: str,
) -> None:
    """Create the state schema and its tables, and grant roles; run once, as an administrator.

    Idempotent: creates only what is missing (an older layout is brought up to
    date) and repeats the grants. Afterwards a deploy role needs no CREATE
    privilege on the database or the state schema (see docs/security.md).
    """
    report = init(app.config, grant=grant, grant_read=grant_read, print_sql=print_sql)
    if output_format == "json":
        echo_json(report)
    elif print_sql:
        render_sql(report)
    else:
        render_report(report)


def render_sql(report: InitReport) -> None:
    """Ready for ``psql -1 -f``: one statement per block, each ending in a semicolon."""
    click.echo(f"-- expandctl init for state schema {report.state_schema}: nothing was run")
    if not report.statements:
        click.echo("-- nothing to do: the layout is complete and no role was named")
    for statement in report.statements:
        click.echo(f"{statement};")


def render_report(report: InitReport) -> None:
    schema = report.state_schema
    for label in report.created:
        click.echo(f"created {label}")
    if not report.created:
        click.echo(f"state schema {schema} is complete (layout {report.layout_version})")
    for role in report.deploy_roles:
        click.echo(f"granted {role} what every command needs on schema {schema}")
    for role in report.read_roles:
        click.echo(f"granted {role} read access to schema {schema}")
