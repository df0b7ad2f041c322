"""``expandctl lint --alembic`` / ``--django``: the bridge's branch of the lint command."""

from __future__ import annotations

from typing import NamedTuple

import click

from expandctl.cli.context import AppContext
from expandctl.cli.output import color_enabled
from expandctl.errors import UsageError


class BridgeOptions(NamedTuple):
    alembic: bool
    alembic_config: str | None
    django: bool
    django_settings: str | None


def lint_bridged(
    app: AppContext,
    targets: tuple[str, ...],
    bridge: BridgeOptions,
    phase: str | None,
    pg_version: int | None,
    output_format: str,
    fail_on: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
) -> None:
    """Lint every revision alone; render and exit as ``lint`` does (0 / 1 / 2)."""
    from expandctl.bridges.lint_command import run_bridge_lint
    from expandctl.lint.formats import render

    if bridge.alembic and bridge.django:
        raise UsageError("--alembic and --django cannot be combined: lint one tool per run")
    if phase is not None:
        raise UsageError(
            "--phase does not apply to --alembic/--django",
            hint='mark a revision instead: expandctl_phase = "contract" in its file',
        )
    report = run_bridge_lint(
        app.config,
        "alembic" if bridge.alembic else "django",
        targets,
        alembic_config=bridge.alembic_config,
        django_settings=bridge.django_settings,
        pg_version=pg_version,
        select=select,
        ignore=ignore,
        fail_on="warning" if fail_on == "warning" else "error",
    )
    click.echo(render(report, output_format, color=color_enabled()))
    if report.failed:
        click.get_current_context().exit(1)
