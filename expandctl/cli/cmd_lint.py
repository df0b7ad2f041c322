"""``expandctl lint``."""

from __future__ import annotations

import sys

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import color_enabled
from expandctl.model.phases import PHASES, Phase

# Kept literal so that loading the CLI does not import the parser (sqlglot).
FORMAT_NAMES = ("text", "json", "github", "sarif", "gitlab")


@click.command("lint")
@click.argument("paths", nargs=-1)
@click.option(
    "--phase",
    type=click.Choice([p.value for p in PHASES]),
    help="Lint plain SQL files and stdin as this phase (default: expand, the strictest).",
)
@click.option(
    "--pg-version", type=int, help="Target PostgreSQL major version (default: config, else 15)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMAT_NAMES),
    default="text",
    show_default=True,
    help="text for people; json (documented schema), github, sarif, gitlab for CI.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Exit 1 on errors only, or on warnings too.",
)
@click.option("--select", multiple=True, help="Rule ids, names or groups to run (replaces config).")
@click.option("--ignore", multiple=True, help="Rule ids, names or groups to skip.")
@click.option(
    "--changed-since",
    metavar="REF",
    help="Only the migrations and .sql files changed since git REF (REF...HEAD, "
    "plus uncommitted and untracked files).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Lint everything again; neither read nor write .expandctl/cache/lint.",
)
@click.option("--alembic", is_flag=True, help="Lint each Alembic revision of [RANGE] alone.")
@click.option("--alembic-config", help="alembic.ini (default: $ALEMBIC_CONFIG, ./alembic.ini).")
@click.option("--django", is_flag=True, help="Lint each Django migration of [APP]... alone.")
@click.option("--settings", "django_settings", help="Django settings module (for --django).")
@pass_app
def lint_command(
    app: AppContext,
    paths: tuple[str, ...],
    phase: str | None,
    pg_version: int | None,
    output_format: str,
    fail_on: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    changed_since: str | None,
    no_cache: bool,
    alembic: bool,
    alembic_config: str | None,
    django: bool,
    django_settings: str | None,
) -> None:
    """Check migration SQL for locks and breakage, phase by phase.

    PATHS are migration folders, the migrations directory (the default), .sql
    files, or - for SQL on stdin. Exit code 0: no errors; 1: findings at or
    above --fail-on; 2: usage, configuration or I/O error.
    """
    if alembic or django:  # each revision alone: docs/alembic.md, docs/django.md
        from expandctl.cli.lint_bridges import BridgeOptions, lint_bridged

        bridge = BridgeOptions(alembic, alembic_config, django, django_settings)
        options = (phase, pg_version, output_format, fail_on, select, ignore)
        return lint_bridged(app, paths, bridge, *options)
    from expandctl.commands.lint import STDIN, LintRequest, lint

    request = LintRequest(
        paths=paths,
        phase=Phase(phase) if phase else None,
        pg_version=pg_version,
        select=select,
        ignore=ignore,
        fail_on=fail_on,
        output_format=output_format,
        color=color_enabled(),
        stdin_text=sys.stdin.read() if STDIN in paths else None,
        changed_since=changed_since,
        use_cache=not no_cache,
        config_path=app.config_path,
    )
    outcome = lint(request, app.lint_config)
    if outcome.note and not app.quiet:
        click.echo(outcome.note, err=True)
    click.echo(outcome.text)
    if app.verbose and outcome.stats is not None:
        click.echo(outcome.stats.line(), err=True)
    if outcome.failed:
        click.get_current_context().exit(1)
