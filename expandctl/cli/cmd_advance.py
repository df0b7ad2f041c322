"""``expandctl advance`` and the shared rendering of phase runs."""

from __future__ import annotations

import sys

import click

from expandctl.cli.backfill_progress import ProgressRenderer
from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option, style
from expandctl.commands.advance import AdvanceReport, Confirm, advance
from expandctl.commands.advance_dry_run import AdvanceDryRunReport, dry_run_advance
from expandctl.errors import StateError, UsageError
from expandctl.model.phases import Phase

PHASE_CHOICE = click.Choice([p.value for p in Phase])


def terminal_confirm() -> Confirm | None:
    """Ask on a terminal; without one there is nobody to ask, so --yes is needed."""
    if not sys.stdin.isatty():
        return None
    return lambda question: click.confirm(question, default=False, err=True)


def render_runs(report: AdvanceReport, output_format: str) -> None:
    if output_format == "json":
        echo_json(report)
        return
    for run in report.runs:
        verb = "rolled back" if run.direction == "rollback" else "done"
        extra = []
        if run.resumed_from is not None:
            extra.append(f"resumed at step {run.resumed_from + 1}")
        if run.skipped:
            extra.append(f"{len(run.skipped)} found already done")
        if run.retries:
            extra.append(f"{run.retries} lock retries")
        tail = f"; {', '.join(extra)}" if extra else ""
        click.echo(
            f"{style(run.migration_id, bold=True)}: {run.phase} {verb} "
            f"({run.steps_run}/{run.steps_total} steps, {run.duration_ms / 1000:.2f}s{tail})"
        )
    for message in report.messages:
        click.echo(message)


@click.command("advance")
@click.argument("migration_id", required=False)
@click.option("--to", "to", type=PHASE_CHOICE, help="Run phases one by one up to this one.")
@click.option(
    "--all", "all_migrations", is_flag=True, help="Move every migration one phase (or up to --to)."
)
@click.option("--yes", "-y", is_flag=True, help="Confirm contract (irreversible) without asking.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Change nothing: show the next phase; for backfill, time one batch and roll it back.",
)
@format_option()
@pass_app
def advance_command(
    app: AppContext,
    migration_id: str | None,
    to: str | None,
    all_migrations: bool,
    yes: bool,
    dry_run: bool,
    output_format: str,
) -> None:
    """Run the next phase of MIGRATION_ID (default: the oldest in flight).

    Refuses to skip a phase, to start a migration whose requires are not
    expanded, and to run when files of an already-run phase changed.
    A backfill shows its progress on stderr (a bar on a terminal, a log line
    every few seconds otherwise; nothing with --quiet).
    """
    if dry_run:
        if to or all_migrations:
            raise UsageError("--dry-run shows the next phase of one migration; drop --to/--all")
        dry = dry_run_advance(app.config, migration_id)
        if output_format == "json":
            echo_json(dry)
        else:
            render_dry_run(dry)
        if dry.plan.refusals:
            click.get_current_context().exit(StateError.exit_code)
        return
    renderer = None if app.quiet else ProgressRenderer()
    try:
        report = advance(
            app.config,
            migration_id,
            to=Phase(to) if to else None,
            all_migrations=all_migrations,
            yes=yes,
            confirm=terminal_confirm(),
            progress=renderer,
        )
    except BaseException:
        if renderer is not None and renderer.tty and renderer.last_width:
            # a bar left mid-line by a failure or Ctrl-C: the message goes below it
            renderer.stream.write("\n")
            renderer.stream.flush()
        raise
    render_runs(report, output_format)


def render_dry_run(dry: AdvanceDryRunReport) -> None:
    from expandctl.cli.cmd_plan import render_plan  # cmd_plan imports this module

    render_plan(dry.plan)
    for b in dry.batches:
        click.echo(
            f"dry run: backfill [{b.index}] {b.table}: one batch of up to {b.batch_size:,} rows"
            f" took {b.batch_ms:.1f} ms, would update {b.rows_matched:,} of {b.rows_scanned:,}"
            f" rows scanned ({b.rows_remaining:,} rows to do in all); rolled back"
        )
    if dry.batches:
        click.echo("dry run: nothing was kept or recorded")
    else:
        click.echo("dry run: nothing was executed")
