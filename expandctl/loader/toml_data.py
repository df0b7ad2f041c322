"""TOML files read into data, and the checks every such file gets before validation.

No pydantic here: ``expandctl lint`` reads the configuration with these alone
when it can (``loader.config.load_lint_config``). Before validation, on the
raw data: no control character in any key or string (``"\\u0000"`` is valid
TOML but PostgreSQL would cut the statement at it), no absurd nesting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expandctl.errors import ConfigError, ManifestError
from expandctl.loader.files import CONTROL_CHARACTER, describe_character
from expandctl.loader.problems import Problem, problems_error
from expandctl.loader.toml_lines import key_lines, line_of

# A manifest or config is a few tables of keys; anything deeper is not one.
MAX_DEPTH = 16
Location = tuple[str | int, ...]
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


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


def check_data(
    data: Any, text: str, path: Path, error_type: type[ManifestError | ConfigError] = ManifestError
) -> None:
    """Raw TOML data (a manifest or a config): control characters and nesting depth."""
    problems = [problem for _, problem in data_problems(data, text)]
    if problems:
        raise problems_error(problems, path, error_type)


def data_problems(data: Any, text: str) -> list[tuple[Location, Problem]]:
    """Control characters and nesting depth, each with its location and line."""
    lines = key_lines(text)
    found: list[tuple[Location, Problem]] = []
    for location, problem in _data_problems(data, ()):
        dotted = ".".join(str(p) for p in location[:MAX_DEPTH])
        message = f"{dotted}: {problem}" if dotted else problem
        found.append((location, Problem(message, line_of(lines, list(location)))))
    return found


def _data_problems(value: Any, location: Location) -> Iterator[tuple[Location, str]]:
    if len(location) > MAX_DEPTH:
        yield location, f"nested more than {MAX_DEPTH} levels deep; a manifest is never that deep"
        return
    if isinstance(value, str):
        found = CONTROL_CHARACTER.search(value)
        if found:
            yield location, f"{describe_character(found.group())} is not allowed in a value"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = CONTROL_CHARACTER.search(key)
            if found:
                yield location, f"{describe_character(found.group())} is not allowed in a key"
            yield from _data_problems(item, (*location, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _data_problems(item, (*location, index))
