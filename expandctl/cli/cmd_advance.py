"""``expandctl advance``."""

from __future__ import annotations

import click

from expandctl.cli.backfill_progress import ProgressRenderer
from expandctl.cli.context import AppContext, pass_app
from expandctl.cli.output import echo_json, format_option
from expandctl.cli.phase_output import (
    ACCEPT_RISK_HELP,
    PHASE_CHOICE,
    render_dry_run,
    render_hazard,
    render_runs,
    terminal_confirm,
)
from expandctl.commands.advance import advance
from expandctl.commands.advance_dry_run import dry_run_advance
from expandctl.errors import HazardRefused, StateError, UsageError
from expandctl.model.phases import Phase


@click.command("advance")
@click.argument("migration_id", required=False)
@click.option("--to", "to", type=PHASE_CHOICE, help="Run phases one by one up to this one.")
@click.option(
    "--all", "all_migrations", is_flag=True, help="Move every migration one phase (or up to --to)."
)
@click.option("--yes", "-y", is_flag=True, help="Confirm contract (irreversible) without asking.")
@click.option("--accept-risk", metavar="REASON", help=ACCEPT_RISK_HELP)
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
    accept_risk: str | None,
    dry_run: bool,
    output_format: str,
) -> None:
    """Run the next phase of MIGRATION_ID (default: the oldest in flight).

    Refuses to skip a phase, to start a migration whose requires are not
    expanded, to run when files of an already-run phase changed, and to run
    steps with error-level lint findings (unless --accept-risk). With --all or
    --to it lists every phase it ran and, if it stopped early, why; the exit
    code is the stop's. A backfill shows its progress on stderr (a bar on a
    terminal, a log line every few seconds otherwise; nothing with --quiet).
    """
    if dry_run:
        if to or all_migrations:
            raise UsageError("--dry-run shows the next phase of one migration; drop --to/--all")
        dry = dry_run_advance(app.config, migration_id)
        if output_format == "json":
            echo_json(dry)
        else:
            render_dry_run(dry, verbose=app.verbose)
        if dry.plan.refusals:
            click.get_current_context().exit(StateError.exit_code)
        return
    # With --log-format json the ticks are JSON events (cli/log_format.py), not a bar.
    renderer = None if app.quiet or app.log_format == "json" else ProgressRenderer()
    try:
        report = advance(
            app.config,
            migration_id,
            to=Phase(to) if to else None,
            all_migrations=all_migrations,
            yes=yes,
            confirm=terminal_confirm(),
            progress=renderer,
            accept_risk=accept_risk,
        )
    except BaseException as exc:
        if renderer is not None and renderer.tty and renderer.last_width:
            # a bar left mid-line by a failure or Ctrl-C: the message goes below it
            renderer.stream.write("\n")
            renderer.stream.flush()
        if isinstance(exc, HazardRefused):
            render_hazard(exc, output_format)
        raise
    render_runs(report, output_format)
