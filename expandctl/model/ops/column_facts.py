"""What the live catalog says about existing columns, for operations that would
otherwise make the developer restate it (``rename_column``, ``change_column_type``).

Pure data: ``engine.catalog_facts`` reads it from pg_catalog and
``commands.phase`` hands it to ``fill_from_catalog`` before planning. An
operation that uses facts names the columns it wants (``fact_columns``) and
returns a copy of itself with every fact the manifest left out filled in, plus
a ``FactConflict`` for every fact the manifest states that the catalog
contradicts. Without a database (``lint``, ``plan --phase``) nothing is
filled: omitted facts stay unknown and the operation plans with neutral
values (no NOT NULL, no index, the type shown as unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from expandctl.model.sql_quote import quote_ident

ColumnKey = tuple[str | None, str, str]  # (schema, table, column) as the manifest names them


@dataclass(frozen=True)
class ColumnFacts:
    """One existing column, as pg_catalog describes it."""

    type: str  # format_type(atttypid, atttypmod), e.g. 'character varying(20)'
    base_type: str  # the same without modifiers: 'character varying'
    not_null: bool
    default: str | None  # pg_get_expr of its default, None when it has none
    unique: bool  # a unique index on exactly this column
    indexed: bool  # a plain (non-unique) index on exactly this column


@dataclass(frozen=True)
class CatalogFacts:
    """The facts of the columns operations asked for; a column absent here does not exist."""

    columns: Mapping[ColumnKey, ColumnFacts] = field(default_factory=dict)
    # A type as the manifest spells it -> as the server formats it ('int8' -> 'bigint');
    # None when the server does not know it.
    types: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class FactConflict:
    """A fact the manifest states that the catalog contradicts: planning is refused."""

    message: str
    hint: str | None = None


@runtime_checkable
class UsesCatalogFacts(Protocol):
    """An operation planned from facts about existing columns (rename_column, ...)."""

    @property
    def label(self) -> str: ...

    def fact_columns(self) -> Sequence[ColumnKey]: ...

    def declared_types(self) -> Sequence[str]: ...

    def with_facts(
        self, facts: CatalogFacts, where: str
    ) -> tuple[UsesCatalogFacts, list[FactConflict]]: ...


def unknown_type(table: str, column: str) -> str:
    """The type shown in SQL planned without a database: it names what is missing."""
    return quote_ident(f"<type of {table}.{column}: read from the database>")


def type_matches(declared: str, facts: CatalogFacts, column: ColumnFacts) -> bool | None:
    """Whether a declared type is the column's (modifiers count where the server can tell:
    PostgreSQL 17+); None when the server does not know the declared type."""
    canonical = facts.types.get(declared)
    if canonical is None:
        return None
    return canonical in (column.type, column.base_type)
