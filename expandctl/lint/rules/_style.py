"""Columns declared by a statement, for the style rules."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn, Column, CreateTable, display


def declared_columns(action: Action) -> Iterator[tuple[str, Column]]:
    """(table, column) for every column a CREATE TABLE or ADD COLUMN declares."""
    if isinstance(action, CreateTable):
        for column in action.columns:
            yield display(action.table or ""), column
    elif isinstance(action, AddColumn):
        yield display(action.table or ""), action.column
