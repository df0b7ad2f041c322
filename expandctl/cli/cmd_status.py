"""``expandctl status``."""

from __future__ import annotations

import click

from expandctl.cli.backfill_numbers import rates, rows
from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option, style
from expandctl.commands.status import StatusReport, status
from expandctl.engine.backfill import BackfillCheckpoint


@click.command("status")
@format_option()
@pass_app
def status_command(app: AppContext, output_format: str) -> None:
    """Every migration on disk and in the database: phase, next step, drift."""
    report = status(app.config)
    if output_format == "json":
        echo_json(report)
        return
    render_status(report)


def render_status(report: StatusReport) -> None:
    embedded = " (embedded PostgreSQL under .expandctl/)" if report.embedded else ""
    click.echo(f"database: {report.database}{embedded}")
    created = "" if report.initialized else " (not created yet: nothing has run)"
    click.echo(f"state schema: {report.state_schema}{created}")
    if report.lock_holder:
        click.echo(f"an expandctl is changing state right now: {report.lock_holder}")
    for mid in report.interrupted:
        row = next(r for r in report.migrations if r.id == mid)
        p = row.in_progress
        assert p is not None
        verb = "advance" if p.direction.value == "forward" else "rollback"
        click.echo(
            style(f"!! {mid} was INTERRUPTED mid-{p.phase.value} ", fg="red", bold=True)
            + f"({p.direction.value}, {p.steps_done}/{p.total_steps} steps done, started "
            f"{p.started_at:%Y-%m-%d %H:%M:%S%z} by {p.by}): 'expandctl {verb} {mid}' resumes it"
        )
    if not report.migrations:
        click.echo("no migrations")
        return
    width = max(len(r.id) for r in report.migrations)
    for row in report.migrations:
        click.echo(
            f"{style(row.id.ljust(width), bold=True)}  {row.state.value:<13}  {row.next_action}"
        )
        for t in row.phases:
            click.echo(
                f"    {t.phase.value:<13} {t.finished_at:%Y-%m-%d %H:%M:%S%z}  "
                f"{t.duration_s:.2f}s  by {t.by}"
            )
        for d in row.drift:
            files = ", ".join(d.files) if d.files else "files"
            click.echo(
                style(f"    DRIFT: {files} of {d.phase.value} changed since it ran", fg="yellow")
            )
        for cp in row.backfill or []:
            click.echo(f"    {describe_checkpoint(cp)}")
        if row.backfill_waiting:
            click.echo(f"    backfill {row.backfill_waiting}")
        for reason in row.blocked:
            if not reason.startswith("drift:"):
                click.echo(f"    blocked: {reason}")


def describe_checkpoint(cp: BackfillCheckpoint) -> str:
    """One line per backfill checkpoint: how far, how fast, where it stopped."""
    idle = f"one per range, {cp.ranges} ranges" if cp.ranges > 1 else "not started"
    last = ", ".join(cp.last_key) if cp.last_key else idle
    if cp.finished:
        left = "?" if cp.remaining is None else f"{cp.remaining:,}"
        state = "finished, verified" if cp.remaining == 0 else f"finished, {left} rows left"
    else:
        state = "PAUSED" if cp.paused else "not finished"
    if cp.paused and cp.finished:
        state += ", paused"
    return f"backfill [{cp.index}] {cp.table}: {rows(cp)}, {rates(cp)}, last key ({last}), {state}"
