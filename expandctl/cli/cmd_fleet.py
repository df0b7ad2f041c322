"""``expandctl fleet status|advance|rollback``: the same migrations on many databases."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option, style
from expandctl.cli.phase_output import PHASE_CHOICE
from expandctl.commands.fleet_run import (
    FleetRunReport,
    TargetOutcome,
    fleet_advance,
    fleet_rollback,
)
from expandctl.commands.fleet_status import FleetStatusReport, TargetStatus, fleet_status
from expandctl.errors import StateError
from expandctl.loader.fleet import FLEET_FILE, load_fleet
from expandctl.model.phases import Phase, State

fleet_option = click.option(
    "--fleet",
    "fleet_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=FLEET_FILE,
    show_default=True,
    envvar="EXPANDCTL_FLEET",
    show_envvar=True,
    help="The fleet file: targets and waves.",
)
exclude_option = click.option(
    "--exclude",
    "exclude",
    multiple=True,
    metavar="NAME",
    help="Leave this target out of the run and of the contract gate (repeatable).",
)


@click.group("fleet")
def fleet_group() -> None:
    """Move the same migrations across many databases, wave by wave.

    Each database keeps its own state and lock; the fleet file (fleet.toml)
    names the targets and the waves (canary first). See docs/scale.md.
    """


@fleet_group.command("status")
@fleet_option
@exclude_option
@format_option()
@pass_app
def fleet_status_command(
    app: AppContext, fleet_path: Path, exclude: tuple[str, ...], output_format: str
) -> None:
    """Every target by every migration: phase, drift, interrupted, missing, unreachable."""
    report = fleet_status(load_fleet(fleet_path), app.config, exclude=exclude)
    if output_format == "json":
        echo_json(report)
    else:
        render_fleet_status(report)


@fleet_group.command("advance")
@click.argument("migration_id", required=False)
@click.option("--to", "to", type=PHASE_CHOICE, help="Move every target up to this phase.")
@click.option("--yes", "-y", is_flag=True, help="Confirm contract (irreversible).")
@fleet_option
@exclude_option
@format_option()
@pass_app
def fleet_advance_command(
    app: AppContext,
    migration_id: str | None,
    to: str | None,
    yes: bool,
    fleet_path: Path,
    exclude: tuple[str, ...],
    output_format: str,
) -> None:
    """Advance MIGRATION_ID on every target, wave by wave.

    Without --to, every target goes one phase past the least advanced one, so
    a rerun after a failure finishes the same step. Contract runs on no target
    until every included target has finished switch-writes and its min_soak.
    """
    fleet = load_fleet(fleet_path)
    with _target_log_prefix():
        report = fleet_advance(
            fleet,
            app.config,
            migration_id,
            to=Phase(to) if to else None,
            yes=yes,
            exclude=exclude,
            on_outcome=None if app.quiet or output_format == "json" else _announce,
        )
    _finish(report, output_format)


@fleet_group.command("rollback")
@click.argument("migration_id")
@click.option("--yes", "-y", is_flag=True, help="Confirm the rollback on every target.")
@fleet_option
@exclude_option
@format_option()
@pass_app
def fleet_rollback_command(
    app: AppContext,
    migration_id: str,
    yes: bool,
    fleet_path: Path,
    exclude: tuple[str, ...],
    output_format: str,
) -> None:
    """Undo the last phase of MIGRATION_ID on every target at it, wave by wave."""
    fleet = load_fleet(fleet_path)
    with _target_log_prefix():
        report = fleet_rollback(
            fleet,
            app.config,
            migration_id,
            yes=yes,
            exclude=exclude,
            on_outcome=None if app.quiet or output_format == "json" else _announce,
        )
    _finish(report, output_format)


def _announce(outcome: TargetOutcome) -> None:
    click.echo(f"  [{outcome.wave}] {describe_outcome(outcome)}", err=True)


def describe_outcome(o: TargetOutcome) -> str:
    if o.outcome == "failed":
        return style(f"{o.target}: FAILED: {o.error}", fg="red")
    if o.outcome == "not-started":
        return f"{o.target}: not started"
    state = o.after.value if o.after else "?"
    if o.outcome == "already":
        return f"{o.target}: already at {state}" + (f" ({o.note})" if o.note else "")
    return f"{o.target}: {' -> '.join(p.value for p in o.phases)} done, now {state}"


def _finish(report: FleetRunReport, output_format: str) -> None:
    if output_format == "json":
        echo_json(report)
    else:
        render_fleet_run(report)
    if not report.ok:
        click.get_current_context().exit(StateError.exit_code)


def render_fleet_run(report: FleetRunReport) -> None:
    for message in report.messages:
        click.echo(message)
    if report.goal is None:
        return
    click.echo(
        f"fleet {report.command} {report.migration_id} to {report.goal.value}"
        + (f" (excluded: {', '.join(report.excluded)})" if report.excluded else "")
    )
    for wave in report.waves:
        counts: dict[str, int] = {}
        for t in wave.targets:
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no targets"
        click.echo(f"wave {style(wave.name, bold=True)}: {summary}")
        for t in wave.targets:
            if t.outcome in ("failed", "moved"):
                click.echo(f"  {describe_outcome(t)}")
    if report.stopped_at:
        click.echo(
            style(f"stopped after wave {report.stopped_at}: ", fg="red", bold=True)
            + f"{len(report.failed)} failed ({', '.join(report.failed)}), "
            f"{len(report.not_started)} not started; fix and rerun to resume"
        )
    elif report.failed:
        click.echo(style(f"{len(report.failed)} failed: {', '.join(report.failed)}", fg="red"))
    else:
        click.echo(f"done: {len(report.moved)} moved")


def render_fleet_status(report: FleetStatusReport) -> None:
    click.echo(
        f"fleet {report.fleet}: {len(report.targets)} targets, waves "
        + ", ".join(f"{name} ({len(members)})" for name, members in report.waves.items())
    )
    if not report.migrations:
        click.echo("no migrations")
    width = max([6, *(len(t.name) for t in report.targets)])
    ids = report.migrations
    widths = {m: max(len(m), 13) for m in ids}
    click.echo("target".ljust(width) + "  " + "  ".join(m.ljust(widths[m]) for m in ids))
    for row in report.targets:
        if not row.reachable:
            cells = style(f"UNREACHABLE: {row.error}", fg="red")
        else:
            cells = "  ".join(_cell(row.states.get(m), m, row).ljust(widths[m]) for m in ids)
        mark = " (excluded)" if row.excluded else ""
        click.echo(f"{row.name.ljust(width)}  {cells}{mark}")
        for missing in row.missing:
            click.echo(f"{' ' * width}  MISSING from disk: {missing}")
    for spread in report.spread:
        if spread.id in report.split:
            parts = ", ".join(f"{s.value}: {len(t)}" for s, t in spread.by_state.items())
            click.echo(style(f"{spread.id} is split across phases ({parts})", fg="yellow"))
    for item in report.interrupted:
        click.echo(
            style(f"!! {item} was INTERRUPTED: a fleet advance/rollback resumes it", fg="red")
        )
    for item in report.drifted:
        click.echo(style(f"DRIFT: {item}: files changed since it ran", fg="yellow"))


def _cell(state: State | None, migration_id: str, row: TargetStatus) -> str:
    """The state, ``!`` when interrupted there, ``~`` when its files drifted."""
    text = state.value if state else "-"
    if migration_id in row.interrupted:
        text += "!"
    if migration_id in row.drifted:
        text += "~"
    return text


class _TargetPrefix(logging.Filter):
    """Engine log lines from a fleet worker thread say which target they are about."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = threading.current_thread().name
        if name.startswith("expandctl:") and not getattr(record, "_fleet_prefixed", False):
            record.msg = f"[{name.removeprefix('expandctl:')}] {record.msg}"
            record._fleet_prefixed = True
        return True


@contextmanager
def _target_log_prefix() -> Iterator[None]:
    logger = logging.getLogger("expandctl")
    prefix = _TargetPrefix()
    logger.addFilter(prefix)
    try:
        yield
    finally:
        logger.removeFilter(prefix)
