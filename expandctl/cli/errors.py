"""One place that turns exceptions into a one-line message and an exit code."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from expandctl.cli.output import style
from expandctl.errors import Declined, ExpandctlError
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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(self, ctx, args)
        return super().parse_args(ctx, args)

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
        except Declined as exc:
            # Answering no is a choice, not a failure: no "error:", and its own exit code.
            click.echo(f"aborted: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
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


def _options(command: click.Command) -> dict[str, bool]:
    """Every option name of ``command`` (and of its subcommands) -> whether it takes a value."""
    found: dict[str, bool] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                found[name] = not (param.is_flag or param.count)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found.update(_options(sub))
    return found


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``expandctl status --embedded`` means ``expandctl --embedded status``.

    A global option written after the command (and not one of that command's
    own options) is moved in front of it, with its value; everything after
    ``--`` is left alone. ``--help`` and ``--version`` stay where they are.
    """
    globals_ = {
        name: takes
        for name, takes in _options(group).items()
        if name not in ("--help", "-h", "--version")
    }
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        name = args[i].partition("=")[0]
        i += 2 if globals_.get(name) and "=" not in args[i] else 1
    if i >= len(args):
        return args
    command = group.get_command(ctx, args[i]) if args[i] in group.list_commands(ctx) else None
    if command is None:
        return args
    local = _options(command)
    head, rest = args[: i + 1], args[i + 1 :]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == "--":
            kept.extend(rest[j:])
            break
        name = token.partition("=")[0] if token.startswith("--") else token
        short_run = (
            len(token) > 2 and token[0] == "-" and token[1] != "-" and len(set(token[1:])) == 1
        )
        if short_run:  # -vv
            name = token[:2]
        if name in globals_ and name not in local:
            takes = globals_[name] and "=" not in token and not short_run
            moved.extend(rest[j : j + 2] if takes else [token])
            j += 2 if takes else 1
            continue
        kept.append(token)
        if local.get(name) and "=" not in token and j + 1 < len(rest):
            kept.append(rest[j + 1])  # the option's value, whatever it looks like
            j += 1
        j += 1
    return [*head[:-1], *moved, head[-1], *kept]


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
