"""Manifest fields that hold SQL written by the developer, marked so they can be found.

An expression or a type is pasted into generated SQL. Each such field is
annotated with a ``SqlSlot`` marker saying what must fit in the slot: exactly
one expression, or exactly one data type. The model checks what it can
without a parser (no ``;``, no comments); the loader finds every marked field
through ``sql_slot_of`` and parses it with sqlglot, so a new operation's
fields are covered without being listed anywhere.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from expandctl.model.sql_split import find_comments, split_statements


@dataclass(frozen=True, slots=True)
class SqlSlot:
    """What a field's SQL must be: one ``expression``, one ``type``, or
    ``statements`` run as written (and linted like a phase file)."""

    kind: Literal["expression", "type", "statements"]


def _one_expression(value: str) -> str:
    """Expressions are pasted into generated SQL: exactly one, no ';', no comments."""
    statements = split_statements(value)
    if len(statements) != 1 or value[statements[0].end :].strip():
        raise ValueError(f"must be one SQL expression, not statements (no ';'): {value!r}")
    if find_comments(value):
        raise ValueError(f"must not contain SQL comments: {value!r}")
    return value


EXPRESSION = SqlSlot("expression")
TYPE = SqlSlot("type")
STATEMENTS = SqlSlot("statements")

# An SQL expression written by the developer: one, self-contained.
SqlText = Annotated[str, Field(min_length=1), AfterValidator(_one_expression), EXPRESSION]
# An SQL data type written by the developer (``bigint``, ``numeric(10,2)``, ``text[]``).
SqlType = Annotated[str, Field(min_length=1), AfterValidator(_one_expression), TYPE]

# Whole statements, as a phase file holds them (the ``sql`` operation).
SqlScript = Annotated[str, STATEMENTS]


def sql_slot_of(annotation: object, metadata: typing.Sequence[object] = ()) -> SqlSlot | None:
    """The marker of a field (its metadata) or anywhere in its annotation
    (``SqlText | None``, ``dict[str, SqlText]``, ``list[SqlType]``)."""
    for item in metadata:
        if isinstance(item, SqlSlot):
            return item
    for item in getattr(annotation, "__metadata__", ()):
        if isinstance(item, SqlSlot):
            return item
    for arg in typing.get_args(annotation):
        found = sql_slot_of(arg)
        if found is not None:
            return found
    return None
