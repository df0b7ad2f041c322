"""``expandctl backfill pause|resume|status|dry-run``."""

from __future__ import annotations

import click

from expandctl.cli.backfill_numbers import rates, rows
from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option, style
from expandctl.commands.backfill import (
    BackfillStatusReport,
    backfill_progress,
    dry_run_backfill,
    pause_backfill,
)
from expandctl.model.words import plural


@click.group("backfill")
def backfill_group() -> None:
    """Steer a running backfill: pause, resume, show progress."""


@backfill_group.command("pause")
@click.argument("migration_id")
@format_option()
@pass_app
def pause_command(app: AppContext, migration_id: str, output_format: str) -> None:
    """Stop the backfill of MIGRATION_ID after its current batch (it waits, resumable)."""
    result = pause_backfill(app.config, migration_id, paused=True)
    if output_format == "json":
        echo_json(result)
        return
    tail = "" if result.running else " (no backfill is running: it will start paused)"
    click.echo(f"backfill of {result.migration_id} paused{tail}")


@backfill_group.command("resume")
@click.argument("migration_id")
@format_option()
@pass_app
def resume_command(app: AppContext, migration_id: str, output_format: str) -> None:
    """Let a paused backfill of MIGRATION_ID continue with its next batch."""
    result = pause_backfill(app.config, migration_id, paused=False)
    if output_format == "json":
        echo_json(result)
        return
    click.echo(f"backfill of {result.migration_id} resumed")


@backfill_group.command("status")
@click.argument("migration_id", required=False)
@format_option()
@pass_app
def status_command(app: AppContext, migration_id: str | None, output_format: str) -> None:
    """Progress of running, interrupted and finished backfills, from their checkpoints."""
    report = backfill_progress(app.config, migration_id)
    if output_format == "json":
        echo_json(report)
        return
    render_backfill_status(report)


@backfill_group.command("dry-run")
@click.argument("migration_id")
@format_option()
@pass_app
def dry_run_command(app: AppContext, migration_id: str, output_format: str) -> None:
    """Run the first batch of MIGRATION_ID's backfill in a transaction, roll it back, time it."""
    report = dry_run_backfill(app.config, migration_id)
    if output_format == "json":
        echo_json(report)
        return
    for b in report.batches:
        click.echo(
            f"[{b.index}] {b.table} by ({', '.join(b.key)}): one batch of {b.batch_size:,} rows"
            f" scanned {b.rows_scanned:,}, would update {b.rows_matched:,}, took"
            f" {b.batch_ms:.1f} ms (rolled back); {b.rows_remaining:,} rows to do in all"
        )
        click.echo(b.statement)


def render_backfill_status(report: BackfillStatusReport) -> None:
    if not report.backfills:
        click.echo(
            "no backfill has run" + (f" for {report.migration_id}" if report.migration_id else "")
        )
        return
    for c in report.backfills:
        if c.finished:
            state = (
                style("done", fg="green")
                if c.remaining == 0
                else style(f"verification failed: {c.remaining} rows left", fg="red", bold=True)
            )
        elif c.paused:
            state = style("paused", fg="yellow")
        else:
            state = style("in progress", fg="yellow") + (
                f" (last batch {c.updated_at:%H:%M:%S%z}; if interrupted,"
                f" 'expandctl advance {c.migration_id}' resumes it)"
                if c.updated_at
                else ""
            )
        idle = f"one per range, {c.ranges} ranges" if c.ranges > 1 else "-"
        last = ", ".join(c.last_key) if c.last_key else idle
        click.echo(
            f"{style(c.migration_id, bold=True)}[{c.index}] {c.table}: {state},"
            f" {rows(c)}, {plural(c.batches, 'batch', 'batches')},"
            f" {plural(c.retries, 'retry', 'retries')}, {rates(c)}, last key ({last})"
        )
