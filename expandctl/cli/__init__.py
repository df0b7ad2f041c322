"""The click command line: parse, call a command, render, map errors to exit codes.

``main`` is the console script. ``expandctl lint …`` first tries a running lint
server through ``lint_client`` (standard library only), so a pre-commit hook
or an editor does not pay for importing click, pydantic and the parser; ``cli``
(the click group) is imported on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

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

    run_cli()


def __getattr__(name: str) -> Any:
    if name == "cli":
        from expandctl.cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
