"""Pydantic validation errors as our one-line message with file:line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from expandctl.errors import ConfigError, ManifestError
from expandctl.loader.toml_lines import key_lines, line_of

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def validation_error(
    exc: ValidationError, path: Path, text: str, error_type: type[ManifestError | ConfigError]
) -> ManifestError | ConfigError:
    """Turn pydantic's report into our one-line message with file:line."""
    lines = key_lines(text)
    errors = exc.errors()
    # An unknown key usually explains the others (a misspelt required key), so it goes first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    location = _readable_location(first["loc"])
    dotted = ".".join(str(p) for p in location) or "(top level)"
    if first["type"] == "extra_forbidden":
        message = f"unknown key {dotted!r}"
    elif first["type"] == "missing":
        message = f"missing required key {dotted!r}"
    else:
        message = f"{dotted}: {_clean_message(first['msg'])}"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error_type(message, path=path, line=line_of(lines, list(first["loc"])))


def _readable_location(loc: tuple[str | int, ...]) -> list[str | int]:
    """Drop what pydantic adds for unions: the member's class name, and for
    ``[[operations]]`` the ``op`` value (``operations.0.rename_column.to``)."""
    parts: list[str | int] = []
    for i, part in enumerate(loc):
        after_operation_index = i == 2 and loc[0] == "operations" and isinstance(loc[1], int)
        if _is_union_tag(part) or after_operation_index:
            continue
        parts.append(part)
    return parts


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts the matched union member's tag or class into the location
    return isinstance(part, str) and (part[:1].isupper() or part.startswith("function-"))


def _clean_message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def load_toml(
    text: str, path: Path, error_type: type[ManifestError | ConfigError]
) -> dict[str, Any]:
    """Parse TOML; a syntax error or absurd nesting is our one-line error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = f"invalid TOML: {toml_error_message(exc)}"
        raise error_type(message, path=path, line=toml_error_line(exc, text)) from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table.
        raise error_type("invalid TOML: nested too deeply", path=path) from None


def toml_error_message(exc: tomllib.TOMLDecodeError) -> str:
    return _TOML_POSITION.sub("", str(exc)).replace("(at end of document)", "").strip()


def toml_error_line(exc: tomllib.TOMLDecodeError, text: str) -> int | None:
    """tomllib says '(at line N, column M)' or, for a value left open, 'at end of document'."""
    position = _TOML_POSITION.search(str(exc))
    if position:
        return int(position.group(1))
    if "end of document" in str(exc):
        return max(1, len(text.splitlines()))
    return None
