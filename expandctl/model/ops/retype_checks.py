"""retype_column's catalog preconditions: the manifest must describe the column exactly.

The operation plans without a database, so everything the swap moves (the
primary key, unique and check constraints, indexes, the identity or serial
sequence, the default, every foreign key pointing at the column) is declared
in the manifest; these checks refuse expand when the live catalog has more or
less than declared, naming what differs, instead of losing it at the swap.
"""

# ruff: noqa: S608 -- generating SQL is this module's job: names go through
# quote_ident/quote_literal.
from __future__ import annotations

from collections.abc import Sequence

from expandctl.model.ops.checks import CatalogCheck, attribute
from expandctl.model.sql_quote import qualified, quote_literal


def _rel(schema: str | None, table: str) -> str:
    return f"to_regclass({quote_literal(qualified(schema, table))})"


def _display(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _attnum(schema: str | None, table: str, column: str) -> str:
    return (
        "(SELECT attnum FROM pg_catalog.pg_attribute"
        f" WHERE attrelid = {_rel(schema, table)} AND attname = {quote_literal(column)}"
        " AND NOT attisdropped)"
    )


def _names(names: Sequence[str]) -> str:
    if not names:
        return "CAST('{}' AS text[])"
    return "ARRAY[" + ", ".join(quote_literal(n) for n in sorted(names)) + "]::text[]"


def _same_names(listed: str, declared: Sequence[str]) -> str:
    """``listed`` (a query of names) returns exactly ``declared``."""
    return (
        f"SELECT coalesce((SELECT array_agg(n ORDER BY n) FROM ({listed}) AS found(n)),"
        f" CAST('{{}}' AS text[])) = {_names(declared)}"
    )


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def not_null_is(schema: str | None, table: str, column: str, declared: bool) -> CatalogCheck:
    where = f"{_display(schema, table)}.{column}"
    return CatalogCheck(
        sql=f"SELECT {'' if declared else 'NOT '}"
        f"({attribute(schema, table, column, 'attnotnull')})",
        message=f"column {where} is {'nullable' if declared else 'NOT NULL'},"
        f" but the operation declares not_null = {str(declared).lower()}",
        hint=f"set not_null = {str(not declared).lower()} to match the column",
    )


def constraints_are(
    schema: str | None, table: str, column: str, kind: str, declared: Sequence[str], option: str
) -> CatalogCheck:
    """The ``kind`` constraints (p, u, c) involving the column are exactly ``declared``."""
    labels = {"p": "primary key", "u": "unique constraints", "c": "check constraints"}
    listed = (
        "SELECT conname::text FROM pg_catalog.pg_constraint"
        f" WHERE conrelid = {_rel(schema, table)} AND contype = {quote_literal(kind)}"
        f" AND {_attnum(schema, table, column)} = ANY (conkey)"
    )
    return CatalogCheck(
        sql=_same_names(listed, declared),
        message=f"the {labels[kind]} on {_display(schema, table)}.{column} are not the declared"
        f" {option} ({_listing(declared)})",
        hint=f"list them in {option} (see \\d {_display(schema, table)} in psql)",
    )


def single_column(schema: str | None, table: str, column: str) -> CatalogCheck:
    """Primary key and unique constraints on the column cover it alone."""
    return CatalogCheck(
        sql=(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint"
            f" WHERE conrelid = {_rel(schema, table)} AND contype IN ('p', 'u')"
            f" AND {_attnum(schema, table, column)} = ANY (conkey) AND cardinality(conkey) > 1)"
        ),
        message=f"{_display(schema, table)}.{column} is part of a multi-column key",
        hint="retype_column moves one-column keys only; change this one with an sql operation",
    )


def indexes_are(
    schema: str | None, table: str, column: str, declared: Sequence[str]
) -> CatalogCheck:
    """Indexes on the column not backing a constraint are exactly ``declared``, each a
    plain one-column btree (the shape retype_column rebuilds)."""
    base = (
        "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
        f" WHERE i.indrelid = {_rel(schema, table)}"
        f" AND {_attnum(schema, table, column)} = ANY (i.indkey)"
        " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k"
        " WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)"
    )
    simple = (
        "i.indnkeyatts = 1 AND i.indnatts = 1 AND NOT i.indisunique AND i.indpred IS NULL"
        " AND i.indexprs IS NULL AND c.relam = (SELECT oid FROM pg_catalog.pg_am"
        " WHERE amname = 'btree')"
    )
    return CatalogCheck(
        sql=(
            f"SELECT ({_same_names(f'SELECT c.relname::text {base}', declared)})"
            f" AND NOT EXISTS (SELECT 1 {base} AND NOT ({simple}))"
        ),
        message=f"the indexes on {_display(schema, table)}.{column} are not the declared"
        f" indexes ({_listing(declared)}), or one is not a plain one-column btree index",
        hint="list every index on the column in indexes; move other kinds with an sql operation",
    )


def identity_is(schema: str | None, table: str, column: str, identity: str | None) -> CatalogCheck:
    code = {"always": "a", "by default": "d", None: ""}[identity]
    return CatalogCheck(
        sql=attribute(schema, table, column, f"attidentity = {quote_literal(code)}"),
        message=f"column {_display(schema, table)}.{column} is "
        + ("not an identity column" if identity else "an identity column")
        + (f" GENERATED {identity.upper()}" if identity else ""),
        hint="set identity to how the column is generated ('always', 'by default'),"
        " or leave it out",
    )


def sequence_is(schema: str | None, table: str, column: str, sequence: str | None) -> CatalogCheck:
    owned = (
        f"pg_get_serial_sequence({quote_literal(qualified(schema, table))},"
        f" {quote_literal(column)})"
    )
    if sequence is None:
        return CatalogCheck(
            sql=f"SELECT {owned} IS NULL",
            message=f"column {_display(schema, table)}.{column} owns a sequence",
            hint="set sequence to its name, so the swap moves it (and widens it)",
        )
    return CatalogCheck(
        sql=(
            f"SELECT to_regclass({owned}) IS NOT DISTINCT FROM"
            f" {_rel(schema, sequence)} AND {_rel(schema, sequence)} IS NOT NULL"
        ),
        message=f"sequence {_display(schema, sequence)} is not the one"
        f" {_display(schema, table)}.{column} owns",
        hint=f"set sequence to pg_get_serial_sequence('{table}', '{column}')",
    )


def has_default(schema: str | None, table: str, column: str, declared: bool) -> CatalogCheck:
    where = f"{_display(schema, table)}.{column}"
    return CatalogCheck(
        sql=f"SELECT {'' if declared else 'NOT '}({attribute(schema, table, column, 'atthasdef')})",
        message=f"column {where} has {'no' if declared else 'a'} default,"
        f" but the operation {'declares one' if declared else 'declares none'}",
        hint="set default to the column's default (SQL), so the swap moves it"
        if not declared
        else "leave default (and sequence) out",
    )


def referencing_key_count(
    schema: str | None, table: str, column: str, declared: Sequence[str]
) -> CatalogCheck:
    """As many foreign keys point at the column as are declared (each is checked by
    foreign_key_is): an undeclared one would be lost by the swap."""
    return CatalogCheck(
        sql=(
            "SELECT count(*) = " + str(len(declared)) + " FROM pg_catalog.pg_constraint"
            f" WHERE confrelid = {_rel(schema, table)} AND contype = 'f'"
            f" AND {_attnum(schema, table, column)} = ANY (confkey)"
        ),
        message=f"the foreign keys referencing {_display(schema, table)}.{column} are not the"
        f" declared referenced_by ({_listing(declared)})",
        hint="list every referencing column in referenced_by = [{ table, column, constraint }]",
    )


def foreign_key_is(
    schema: str | None,
    table: str,
    column: str,
    constraint: str,
    referenced: tuple[str | None, str, str],
    on_delete: str,
) -> CatalogCheck:
    """``constraint`` is a one-column foreign key from the column to the referenced one."""
    ref_schema, ref_table, ref_column = referenced
    action = {"no action": "a", "restrict": "r", "cascade": "c", "set null": "n"}
    action["set default"] = "d"
    return CatalogCheck(
        sql=(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint"
            f" WHERE conrelid = {_rel(schema, table)} AND conname = {quote_literal(constraint)}"
            f" AND contype = 'f' AND confrelid = {_rel(ref_schema, ref_table)}"
            f" AND conkey = ARRAY[{_attnum(schema, table, column)}]"
            f" AND confkey = ARRAY[{_attnum(ref_schema, ref_table, ref_column)}]"
            f" AND confdeltype = {quote_literal(action[on_delete])} AND confupdtype = 'a'"
            " AND confmatchtype = 's')"
        ),
        message=f"{_display(schema, table)} has no foreign key {constraint} ({column}) references"
        f" {_display(ref_schema, ref_table)} ({ref_column}) ON DELETE {on_delete.upper()}",
        hint="set constraint and on_delete in referenced_by to the foreign key's"
        " (ON UPDATE actions and composite keys are not supported)",
    )


def no_dependent_views(schema: str | None, table: str, column: str) -> CatalogCheck:
    """Views and rules follow a column, not a name: after the swap they would read the old one."""
    return CatalogCheck(
        sql=(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend"
            " WHERE classid = 'pg_catalog.pg_rewrite'::regclass"
            f" AND refobjid = {_rel(schema, table)}"
            f" AND refobjsubid = {_attnum(schema, table, column)})"
        ),
        message=f"a view or rule uses {_display(schema, table)}.{column}",
        hint="views keep pointing at the old column after the swap: drop and re-create the view"
        " around this migration",
    )
