"""Catalog preconditions of an operation, as data.

An operation states what must hold in the live catalog before its expand runs
(the table exists, the column does not yet ...). Each CatalogCheck is one SQL
query returning a boolean plus the message to show when it returns false; the
planner turns it into a CheckStep at the head of the operation's expand, which
``plan`` evaluates read-only and ``advance`` runs inside the transaction group.
"""

# ruff: noqa: S608 -- generating SQL is this module's job: names go through
# quote_ident, expressions are the developer's SQL and the linter checks them.
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from expandctl.model.sql_quote import qualified, quote_literal
from expandctl.model.steps import CheckStep


class CatalogCheck(BaseModel):
    """``sql`` must return true; otherwise expand stops with ``message``."""

    model_config = ConfigDict(frozen=True)

    sql: str  # a SELECT of one boolean
    message: str
    hint: str | None = None

    def step(self, source: str) -> CheckStep:
        return CheckStep(sql=self.sql, message=self.message, hint=self.hint, source=source)


def _regclass(schema: str | None, name: str) -> str:
    return f"to_regclass({quote_literal(qualified(schema, name))})"


def _display(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def attribute(schema: str | None, table: str, column: str, condition: str = "true") -> str:
    return (
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute"
        f" WHERE attrelid = {_regclass(schema, table)} AND attname = {quote_literal(column)}"
        f" AND attnum > 0 AND NOT attisdropped AND {condition})"
    )


def table_exists(schema: str | None, table: str) -> CatalogCheck:
    return CatalogCheck(
        sql=f"SELECT {_regclass(schema, table)} IS NOT NULL",
        message=f"table {_display(schema, table)} does not exist",
        hint="check the table name and schema, or create the table in an earlier migration",
    )


def table_absent(schema: str | None, table: str) -> CatalogCheck:
    return CatalogCheck(
        sql=f"SELECT {_regclass(schema, table)} IS NULL",
        message=f"table {_display(schema, table)} already exists",
        hint="pick another name, or drop the old table in an earlier migration",
    )


def column_exists(schema: str | None, table: str, column: str) -> CatalogCheck:
    return CatalogCheck(
        sql=attribute(schema, table, column),
        message=f"column {_display(schema, table)}.{column} does not exist",
        hint="check the column name",
    )


def column_absent(schema: str | None, table: str, column: str) -> CatalogCheck:
    return CatalogCheck(
        sql=f"SELECT NOT ({attribute(schema, table, column)})",
        message=f"column {_display(schema, table)}.{column} already exists",
        hint="pick another name for the new column",
    )


def column_nullable(schema: str | None, table: str, column: str, *, option: str) -> CatalogCheck:
    """A NOT NULL old column must be carried over explicitly (never silently lost)."""
    return CatalogCheck(
        sql=f"SELECT NOT ({attribute(schema, table, column, 'attnotnull')})",
        message=f"column {_display(schema, table)}.{column} is NOT NULL"
        " but the operation would make its replacement nullable",
        hint=f"set {option} = true on the operation",
    )


def column_has_no_default(
    schema: str | None, table: str, column: str, *, hint: str | None = None
) -> CatalogCheck:
    return CatalogCheck(
        sql=f"SELECT NOT ({attribute(schema, table, column, 'atthasdef')})",
        message=f"column {_display(schema, table)}.{column} has a default",
        hint=hint or "drop the default first, or leave default out of the operation",
    )


def constraint_absent(schema: str | None, table: str, name: str) -> CatalogCheck:
    return CatalogCheck(
        sql=(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint"
            f" WHERE conrelid = {_regclass(schema, table)} AND conname = {quote_literal(name)})"
        ),
        message=f"constraint {name} already exists on {_display(schema, table)}",
        hint="pick another constraint name",
    )


def relation_absent(schema: str | None, name: str, kind: str) -> CatalogCheck:
    return CatalogCheck(
        sql=f"SELECT {_regclass(schema, name)} IS NULL",
        message=f"{kind} {_display(schema, name)} already exists",
        hint=f"pick another {kind} name",
    )


def relation_exists(schema: str | None, name: str, kind: str) -> CatalogCheck:
    return CatalogCheck(
        sql=f"SELECT {_regclass(schema, name)} IS NOT NULL",
        message=f"{kind} {_display(schema, name)} does not exist",
        hint=f"check the {kind} name and schema",
    )


def _attnum(schema: str | None, table: str, column: str) -> str:
    return (
        "(SELECT attnum FROM pg_catalog.pg_attribute"
        f" WHERE attrelid = {_regclass(schema, table)} AND attname = {quote_literal(column)})"
    )


def column_type_is(schema: str | None, table: str, column: str, type_sql: str) -> CatalogCheck:
    """The declared type names the column's type (modifiers such as (20) aside).

    A missing column passes: column_exists reports that, once.
    """
    condition = f"atttypid <> to_regtype({quote_literal(type_sql)})"
    return CatalogCheck(
        sql=f"SELECT NOT ({attribute(schema, table, column, condition)})",
        message=f"column {_display(schema, table)}.{column} is not of type {type_sql}",
        hint="set type to the column's current type (see \\d in psql)",
    )


def _no_single_column_index(schema: str | None, table: str, column: str, *, unique: bool) -> str:
    """No one-column index on it of that kind (unique, or plain) that it would lose."""
    return (
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index"
        f" WHERE indrelid = {_regclass(schema, table)} AND {'' if unique else 'NOT '}indisunique"
        f" AND indnkeyatts = 1 AND indkey[0] = {_attnum(schema, table, column)})"
    )


def _no_foreign_key(schema: str | None, table: str, column: str, *, referenced: bool) -> str:
    """No foreign key on the column (``referenced``: none pointing at it from elsewhere)."""
    relation, keys = ("confrelid", "confkey") if referenced else ("conrelid", "conkey")
    return (
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint"
        f" WHERE {relation} = {_regclass(schema, table)} AND contype = 'f'"
        f" AND {_attnum(schema, table, column)} = ANY ({keys}))"
    )


def column_not_unique(schema: str | None, table: str, column: str) -> CatalogCheck:
    return CatalogCheck(
        sql=_no_single_column_index(schema, table, column, unique=True),
        message=f"column {_display(schema, table)}.{column} is unique",
        hint="set unique = true so its replacement is unique too",
    )


def column_not_indexed(schema: str | None, table: str, column: str) -> CatalogCheck:
    """No plain single-column index on it (queries would lose it with the column)."""
    return CatalogCheck(
        sql=_no_single_column_index(schema, table, column, unique=False),
        message=f"column {_display(schema, table)}.{column} has an index",
        hint="set index = true so its replacement is indexed too",
    )


def column_without_foreign_key(
    schema: str | None, table: str, column: str, *, hint: str
) -> CatalogCheck:
    return CatalogCheck(
        sql=_no_foreign_key(schema, table, column, referenced=False),
        message=f"column {_display(schema, table)}.{column} has a foreign key",
        hint=hint,
    )


def column_not_referenced(schema: str | None, table: str, column: str) -> CatalogCheck:
    return CatalogCheck(
        sql=_no_foreign_key(schema, table, column, referenced=True),
        message=f"column {_display(schema, table)}.{column} is referenced by a foreign key",
        hint="the referencing tables must move first; replace it with an sql operation",
    )
