"""Checks on a manifest beyond its schema, each refused with file:line of the key.

Before validation, on the TOML data: no control character in any key or
string (``"\\u0000"`` is valid TOML but PostgreSQL would cut the statement at
it), no absurd nesting, no placeholder left from ``expandctl new``. After
validation, on the operations and backfills: every field marked as SQL fits
its slot (``loader.sql_slots``), and every other text field is a name, at
most 63 bytes, the longest PostgreSQL keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from expandctl.errors import ManifestError
from expandctl.loader.problems import Problem, problems_error
from expandctl.loader.sql_slots import slot_problem
from expandctl.loader.toml_data import MAX_DEPTH, Location
from expandctl.loader.toml_data import data_problems as raw_data_problems
from expandctl.loader.toml_lines import key_lines, line_of
from expandctl.model.manifest import Manifest
from expandctl.model.ops.scaffold import find_placeholder
from expandctl.model.sql_quote import MAX_IDENTIFIER_BYTES
from expandctl.model.sql_slots import SqlSlot, sql_slot_of


def data_problems(
    data: Any, text: str, *, placeholders: bool = False
) -> list[tuple[Location, Problem]]:
    """Control characters, nesting depth and (``placeholders``, for a manifest) values
    still holding a placeholder written by ``expandctl new``; each with its location."""
    found = raw_data_problems(data, text)
    if placeholders:
        lines = key_lines(text)
        for location, value in _strings(data, ()):
            mark = find_placeholder(value)
            if mark is not None:
                message = (
                    f"{_key_name(location)} is still the placeholder {mark!r} written by"
                    " `expandctl new`; fill it in"
                )
                found.append((location, Problem(message, line_of(lines, list(location)))))
    return found


def _strings(value: Any, location: Location) -> Iterator[tuple[Location, str]]:
    if len(location) > MAX_DEPTH:
        return  # reported as too deep
    if isinstance(value, str):
        yield location, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*location, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*location, index))


def _key_name(location: Location) -> str:
    """``table`` for operations.0.table: the operation's own key, as the scaffold wrote it."""
    inside = location[2:] if location[:1] == ("operations",) and len(location) > 2 else location
    return ".".join(str(p) for p in inside)


def check_fields(manifest: Manifest, text: str, path: Path) -> None:
    """Validated operations and backfills: SQL slots parse, names fit."""
    problems = field_problems(manifest, text)
    if problems:
        raise problems_error(problems, path, ManifestError)


def field_problems(
    manifest: Manifest, text: str, *, placeholders_ok: bool = False
) -> list[Problem]:
    """Every SQL slot that does not parse and every name too long, with its line
    (``placeholders_ok``: a value still holding a placeholder is not judged)."""
    lines = key_lines(text)
    found: list[Problem] = []
    items: list[tuple[Location, BaseModel]] = [
        *((("operations", i), op) for i, op in enumerate(manifest.operations)),
        *((("backfill", i), spec) for i, spec in enumerate(manifest.backfill)),
    ]
    for base, model in items:
        for location, value, slot in _fields(model, base, None):
            if placeholders_ok and find_placeholder(value) is not None:
                continue
            problem = _field_problem(location, value, slot)
            if problem is not None:
                message, hint = problem
                found.append(Problem(message, line_of(lines, list(location)), hint))
    for i, retired in enumerate(manifest.retires):
        for part in retired.name.split("."):
            if len(part.encode()) > MAX_IDENTIFIER_BYTES:
                line = line_of(lines, ["retires", i])
                found.append(Problem(_too_long(part), line, "name it as PostgreSQL stores it"))
    return found


def _fields(
    value: Any, location: Location, slot: SqlSlot | None
) -> Iterator[tuple[Location, str, SqlSlot | None]]:
    """Every text in a model, with its TOML location and its field's SQL marker."""
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            key = field.alias or name
            marker = sql_slot_of(field.annotation, field.metadata)
            yield from _fields(getattr(value, name), (*location, key), marker)
    elif isinstance(value, str):
        yield location, value, slot
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _fields(item, (*location, index), slot)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):  # a mapping's keys are names (backfill set = columns)
                yield (*location, key), key, None
            yield from _fields(item, (*location, key), slot)


def _field_problem(location: Location, value: str, slot: SqlSlot | None) -> tuple[str, str] | None:
    dotted = ".".join(str(p) for p in location)
    if slot is None:
        # A name; backfill.table may be schema-qualified, and is split like the engine does.
        qualified = location[0] == "backfill" and location[-1] == "table"
        parts = value.split(".") if qualified else [value]
        for part in parts:
            if len(part.encode()) > MAX_IDENTIFIER_BYTES:
                return f"{dotted}: {_too_long(part)}", "use a shorter name"
        return None
    if slot.kind == "statements":
        return None  # run as written, and linted like a phase file
    problem = slot_problem(value, slot.kind)
    if problem is None:
        return None
    return f"{dotted}: {value!r} {problem}", f"write exactly one SQL {slot.kind}"


def _too_long(name: str) -> str:
    return (
        f"name {name[:20]!r}... is {len(name.encode())} bytes; PostgreSQL keeps only"
        f" {MAX_IDENTIFIER_BYTES} (NAMEDATALEN-1) and silently cuts the rest"
    )
