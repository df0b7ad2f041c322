"""Pydantic validation errors as our messages: every problem, each with file:line."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from expandctl.errors import ConfigError, ManifestError
from expandctl.loader.known_keys import known_keys, tags_at
from expandctl.loader.problems import Problem
from expandctl.loader.toml_lines import key_lines, line_of


def validation_error(
    exc: ValidationError,
    path: Path,
    text: str,
    error_type: type[ManifestError | ConfigError],
    *,
    model: type[BaseModel] | None = None,
    data: Any = None,
) -> ManifestError | ConfigError:
    """Pydantic's report as one line (configuration and fleet files): the most telling
    problem with its file:line, and how many more. Manifests list every problem
    (``validation_problems``, ``loader.migrations.parse_manifest``)."""
    problems = validation_problems(exc, text, model=model, data=data)
    first, more = problems[0], len(problems) - 1
    message = first.message
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error_type(message, path=path, line=first.line, hint=first.hint)


def validation_problems(
    exc: ValidationError,
    text: str,
    *,
    model: type[BaseModel] | None = None,
    data: Any = None,
    skip: Sequence[Sequence[str | int]] = (),
) -> list[Problem]:
    """One Problem per pydantic error. With ``model`` and ``data`` an unknown key says
    which known key it is probably a typo of, and a missing ``op`` lists the operations.
    ``skip``: locations already reported (a placeholder left in), with what is under them."""
    lines = key_lines(text)
    errors = [e for e in exc.errors() if not _under_any(_readable_location(e["loc"]), skip)]
    problems: list[Problem] = []
    explained: set[tuple[str | int, ...]] = set()  # missing keys an unknown key is a typo of
    for error in errors:
        if error["type"] != "extra_forbidden":
            continue
        location = _readable_location(error["loc"])
        keys = known_keys(model, data, location[:-1]) if model is not None else []
        guess = difflib.get_close_matches(str(location[-1]), keys, n=1)
        message = f"unknown key {_dotted(location)!r}"
        if guess:
            message += f" (did you mean {guess[0]!r}?)"
            explained.add((*location[:-1], guess[0]))
        problems.append(Problem(message, line_of(lines, list(error["loc"]))))
    for error in errors:
        location = _readable_location(error["loc"])
        if error["type"] == "extra_forbidden" or tuple(location) in explained:
            continue
        where = list(error["loc"])
        if error["type"] == "union_tag_invalid":  # point at the op line, not the table header
            where.append(_discriminator(error.get("ctx") or {}))
        problems.append(Problem(_message(error, location, model, data), line_of(lines, where)))
    return problems


def _message(
    error: Any, location: list[str | int], model: type[BaseModel] | None, data: Any
) -> str:
    dotted = _dotted(location)
    ctx = error.get("ctx") or {}
    if error["type"] == "missing":
        return f"missing required key {dotted!r}"
    if error["type"] == "union_tag_invalid":
        known = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag"))
        guess = difflib.get_close_matches(tag, known, n=1)
        did_you_mean = f"did you mean {guess[0]!r}? " if guess else ""
        return (
            f"{dotted}.{_discriminator(ctx)}: unknown {_tag_kind(ctx)} {tag!r}"
            f" ({did_you_mean}known: {', '.join(known)})"
        )
    if error["type"] == "union_tag_not_found":
        tags = tags_at(model, data, location) if model is not None else []
        one_of = f" (one of: {', '.join(tags)})" if tags else ""
        return f"{dotted}: missing required key {_discriminator(ctx)!r}{one_of}"
    return f"{dotted}: {_clean_message(error['msg'])}"


def _discriminator(ctx: dict[str, Any]) -> str:
    return str(ctx.get("discriminator", "")).strip("'") or "type"


def _tag_kind(ctx: dict[str, Any]) -> str:
    return "operation" if _discriminator(ctx) == "op" else f"{_discriminator(ctx)} value"


def _dotted(location: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in location) or "(top level)"


def _under_any(location: Sequence[str | int], prefixes: Sequence[Sequence[str | int]]) -> bool:
    return any(tuple(location[: len(p)]) == tuple(p) for p in prefixes)


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
