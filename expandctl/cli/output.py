"""Rendering: JSON for machines, plain or coloured text for people."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # pydantic is imported by the commands that print models, not by --help
    from pydantic import BaseModel

FORMAT_CHOICES = ("text", "json")
F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str) -> Callable[[F], F]:
    """``--format`` for commands whose output is data."""
    options = choices or FORMAT_CHOICES
    decorator: Callable[[F], F] = click.option(
        "--format",
        "output_format",
        type=click.Choice(options),
        default="text",
        show_default=True,
        help="Output format; json is a documented, stable schema.",
    )
    return decorator


def color_enabled(stream: Any = None) -> bool:
    """NO_COLOR (any value) turns colour off; so does a stream that is not a terminal."""
    if "NO_COLOR" in os.environ:
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def style(text: str, *, fg: str | None = None, bold: bool = False, err: bool = False) -> str:
    if not color_enabled(sys.stderr if err else sys.stdout):
        return text
    return click.style(text, fg=fg, bold=bold)


def echo_json(data: BaseModel | list[Any] | dict[str, Any]) -> None:
    from pydantic import BaseModel

    if isinstance(data, BaseModel):
        click.echo(data.model_dump_json(indent=2, by_alias=True))
    else:
        click.echo(json.dumps(data, indent=2, default=str))
