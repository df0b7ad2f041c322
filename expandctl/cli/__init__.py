"""The click command line: parse, call a command, render, map errors to exit codes.

``main`` is the console script. ``expandctl lint …`` first tries a running lint
server through ``lint_client`` (standard library only), so a pre-commit hook
or an editor does not pay for importing click, pydantic and the parser; ``cli``
(the click group) is imported on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from expandctl.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    if sys.argv[1:2] == ["lint"]:
        from expandctl.cli.lint_client import lint_through_server

        code = lint_through_server(sys.argv)
        if code is not None:
            sys.exit(code)
    from expandctl.cli.app import main as run_cli

    if sys.argv[1:2] == ["lint"]:
        _exit_without_teardown(run_cli)
    run_cli()


def _exit_without_teardown(run: Callable[[], None]) -> NoReturn:
    """Run ``expandctl lint`` and leave without tearing the interpreter down.

    Freeing every finding, result and module at exit cost 25-50 ms after a
    500-file lint, a fifth of squawk's whole run (mypy's ``hard_exit`` does the
    same). Nothing of lint's needs the teardown: the cache is closed and the
    workers joined before the report is printed; the exit handlers still run
    and the output is flushed here.
    """
    import atexit
    import contextlib
    import os

    try:
        run()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): printed, exit 1, as the interpreter would
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream: nothing more can be said
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def __getattr__(name: str) -> Any:
    if name == "cli":
        from expandctl.cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
