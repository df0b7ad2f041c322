"""``expandctl demo``: the zero-downtime story, live, on a throwaway schema."""

from __future__ import annotations

import logging

import click

from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option, style
from expandctl.commands.demo import DemoReport, DemoWindow, run_demo

HEADER = (
    f"{'phase':<26}{'time':>9}{'old req':>9}{'new req':>9}{'old err':>9}{'new err':>9}"
    f"{'slowest':>10}"
)


def _row(window: DemoWindow) -> str:
    label = window.label if window.direction != "soak" else f"  {window.label}"
    errors = window.errors.get("old", 0) + window.errors.get("new", 0)
    line = (
        f"{label:<26}{window.duration_ms / 1000:>8.2f}s"
        f"{window.requests.get('old', 0):>9}{window.requests.get('new', 0):>9}"
        f"{window.errors.get('old', 0):>9}{window.errors.get('new', 0):>9}"
        f"{max(window.slowest_ms.values(), default=0):>8}ms"
    )
    return style(line, fg="red") if errors else line


def _summary(report: DemoReport) -> None:
    click.echo("")
    click.echo(style("summary", bold=True))
    phases = [w for w in report.windows if w.direction != "soak"]
    click.echo(f"{'phase':<26}{'time':>9}{'slowest request':>17}  clients live")
    for w in phases:
        slowest = max(w.slowest_ms.values(), default=0)
        click.echo(
            f"{w.label:<26}{w.duration_ms / 1000:>8.2f}s{slowest:>15}ms  {', '.join(w.live) or '-'}"
        )
    click.echo("")
    for version in ("old", "new"):
        click.echo(
            f"{version} clients: {report.requests.get(version, 0)} requests,"
            f" {report.errors.get(version, 0)} errors"
        )
    click.echo(
        f"rows: {report.rows} seeded, {report.rows_after} after contract;"
        f" {report.stale_rows_before_contract} stale before contract"
    )
    for sample in report.error_samples:
        click.echo(style(f"  {sample}", fg="red"))
    verdict = (
        "zero downtime: no client saw an error"
        if not any(report.errors.values())
        else ("clients saw errors")
    )
    click.echo(style(verdict, bold=True, fg="green" if "zero" in verdict else "red"))
    if report.kept:
        click.echo("kept schemas expandctl_demo and expandctl_demo_state")


@click.command("demo")
@click.option("--rows", default=200_000, show_default=True, help="Rows in the demo table.")
@click.option("--clients", default=2, show_default=True, help="Clients per app version.")
@click.option("--soak", default=1.0, show_default=True, help="Seconds of traffic between phases.")
@click.option("--with-rollbacks", is_flag=True, help="Also roll back and redo each phase.")
@click.option("--keep", is_flag=True, help="Keep the demo schemas afterwards.")
@format_option()
@pass_app
def demo_command(
    app: AppContext,
    rows: int,
    clients: int,
    soak: float,
    with_rollbacks: bool,
    keep: bool,
    output_format: str,
) -> None:
    """Split a name column under live old and new clients, through all five phases.

    Uses the embedded PostgreSQL unless --database-url (or the config) names
    one; works in its own schemas and drops them at the end unless --keep.
    """
    text = output_format == "text"
    if not app.verbose:
        # The timeline is the story; the engine's step-by-step log would drown it.
        logging.getLogger("expandctl").setLevel(logging.WARNING)
    if text:
        click.echo(
            f"seeding {rows} rows, then advancing with {clients} old + {clients} new clients..."
        )
        click.echo(style(HEADER, bold=True))
    report = run_demo(
        app.config,
        rows=rows,
        clients_per_version=clients,
        with_rollbacks=with_rollbacks,
        soak_seconds=soak,
        keep=keep,
        on_window=(lambda w: click.echo(_row(w))) if text else None,
    )
    if not text:
        echo_json(report)
        return
    _summary(report)
    if any(report.errors.values()):
        raise SystemExit(1)
