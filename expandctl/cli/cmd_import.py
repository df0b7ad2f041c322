"""``expandctl import alembic REVISION`` / ``expandctl import django APP MIGRATION``."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from expandctl.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from expandctl.bridges.import_command import ImportReport

_COMMON = [
    click.option("--slug", help="Folder name after the number (default: from the description)."),
    click.option("--dry-run", is_flag=True, help="Print the migration.toml; write nothing."),
    click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
    ),
]


@click.group("import")
def import_group() -> None:
    """Translate an Alembic revision or Django migration into a phased migration.

    Operations with a declarative equivalent (add/drop/rename/alter column,
    indexes, constraints, tables) become expandctl operations; the rest is
    kept as SQL in expand, each with the reason. Exit 0 when written; 2 on
    bad input (nothing written).
    """


@import_group.command("alembic")
@click.argument("revision")
@click.option("--alembic-config", help="alembic.ini (default: $ALEMBIC_CONFIG, ./alembic.ini).")
@_COMMON[0]
@_COMMON[1]
@_COMMON[2]
@pass_app
def import_alembic_command(
    app: AppContext,
    revision: str,
    alembic_config: str | None,
    slug: str | None,
    dry_run: bool,
    output_format: str,
) -> None:
    """Import Alembic REVISION (id, unique prefix or head)."""
    from expandctl.bridges.import_command import import_alembic

    report = import_alembic(
        app.config, revision, alembic_config=alembic_config, slug=slug, dry_run=dry_run
    )
    _render(report, output_format)


@import_group.command("django")
@click.argument("app_label", metavar="APP")
@click.argument("migration")
@click.option("--settings", help="Django settings module (default: $DJANGO_SETTINGS_MODULE).")
@_COMMON[0]
@_COMMON[1]
@_COMMON[2]
@pass_app
def import_django_command(
    app: AppContext,
    app_label: str,
    migration: str,
    settings: str | None,
    slug: str | None,
    dry_run: bool,
    output_format: str,
) -> None:
    """Import Django migration MIGRATION (name or unique prefix) of APP."""
    from expandctl.bridges.import_command import import_django

    report = import_django(
        app.config, app_label, migration, settings=settings, slug=slug, dry_run=dry_run
    )
    _render(report, output_format)


def _render(report: ImportReport, output_format: str) -> None:
    if output_format == "json":
        data = asdict(report)
        data["findings"] = [f.model_dump(mode="json") for f in report.findings]
        click.echo(json.dumps(data, indent=2))
        return
    if report.dry_run:
        click.echo(report.manifest, nl=False)
        click.echo(f"(dry run: would be {report.migration_id}; nothing written)")
    else:
        click.echo(f"wrote {report.manifest_path} from {report.source}")
    click.echo(
        f"{report.translated} operation(s) translated, {len(report.kept_as_sql)} kept as SQL"
    )
    for note in report.kept_as_sql:
        click.echo(f"  kept as SQL: {note}")
    for note in report.not_imported:
        click.echo(f"  NOT imported: {note}")
    for finding in report.findings:
        click.echo(
            f"  lint {finding.severity} {finding.rule_id} [{finding.phase}]: {finding.message}"
        )
    click.echo(
        "so that both tools never run it: expandctl runs this change now; once expand has run, "
        f"tell the other tool it is applied: {report.mark_applied}"
    )
