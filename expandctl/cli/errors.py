"""One place that turns exceptions into a one-line message and an exit code."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from expandctl.cli.output import style
from expandctl.errors import ExpandctlError
from expandctl.model.redact import password_of, redact

# What a shell reports for a process killed by SIGPIPE (128 + 13).
SIGPIPE_EXIT = 141


class ErrorHandlingGroup(click.Group):
    """A click group whose commands never show a traceback unless --verbose.

    Commands are registered as ``"module:attribute"`` and imported on first
    use, so one command's heavy imports never slow down another.
    """

    def __init__(
        self,
        *args: Any,
        lazy_commands: dict[str, str] | None = None,
        lazy_help: dict[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        self.lazy_help = dict(lazy_help or {})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help`` from ``lazy_help``, so it imports no command;
        a command missing there is imported for its help, as click does."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            text = self.lazy_help.get(name)
            if text is not None:
                rows.append((name, click.Command(name, help=text).get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ExpandctlError as exc:
            _report(ctx, exc, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _report(ctx, None, "interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`expandctl status | head`): not an error of ours.
            # Point stdout at /dev/null so the interpreter's final flush stays quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(SIGPIPE_EXIT)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug of ours: say so plainly, keep the trace for -v
            _report(ctx, exc, f"internal error: {type(exc).__name__}: {exc}", 70)
        return None


def _report(ctx: click.Context, exc: BaseException | None, message: str, code: int) -> None:
    app = ctx.obj
    secrets = app.secrets() if app is not None else ()
    passwords = [password_of(s) for s in secrets]
    if app is not None and app.log_format == "json":  # stderr stays one JSON object a line
        from expandctl.cli.log_format import error_line

        trace = "".join(traceback.format_exception(exc)) if app.verbose and exc else None
        click.echo(error_line(message, code, secrets, traceback=trace), err=True)
        ctx.exit(code)
    if app is not None and app.verbose and exc is not None:
        trace = "".join(traceback.format_exception(exc))
        click.echo(redact(trace, *passwords), err=True)
    click.echo(
        style("error: ", fg="red", bold=True, err=True) + redact(message, *passwords), err=True
    )
    ctx.exit(code)
