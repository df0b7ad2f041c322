"""Read what pg_catalog says about the columns operations ask about.

The model's ``CatalogFacts`` (``expandctl.model.ops.column_facts``) is filled
here, read-only: in a READ ONLY transaction that is rolled back, under the
same short timeouts as the precondition checks, so ``plan`` and ``status``
never wait on a busy table. A type the manifest states is resolved by the
server (``to_regtype``; with its modifiers through ``to_regtypemod`` on
PostgreSQL 17+), so ``int8`` and ``bigint`` are the same type.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from expandctl.engine.checks import CHECK_LOCK_TIMEOUT, CHECK_STATEMENT_TIMEOUT
from expandctl.engine.connection import Connection, database_error, read_only_look
from expandctl.model.durations import format_duration
from expandctl.model.ops.column_facts import CatalogFacts, ColumnFacts, ColumnKey
from expandctl.model.sql_quote import qualified

# One column: type, NOT NULL, default, and one-column unique / plain indexes
# (the same definition as the operations' catalog checks).
_COLUMN = """
SELECT format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL), a.attnotnull,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid
               AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid
               AND NOT i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum)
FROM pg_catalog.pg_attribute a
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped
"""
_TYPE_WITH_MODIFIERS_SINCE = 17  # to_regtypemod


def read_catalog_facts(
    conn: Connection, columns: Sequence[ColumnKey], types: Sequence[str], server_version: int
) -> CatalogFacts:
    """The facts of ``columns`` (absent when the column does not exist) and of ``types``."""
    if not columns and not types:
        return CatalogFacts()
    found: dict[ColumnKey, ColumnFacts] = {}
    resolved: dict[str, str | None] = {}
    try:
        with read_only_look(
            conn,
            statement_timeout=format_duration(CHECK_STATEMENT_TIMEOUT),
            lock_timeout=format_duration(CHECK_LOCK_TIMEOUT),
        ):
            for key in columns:
                facts = _column(conn, key)
                if facts is not None:
                    found[key] = facts
            for type_sql in types:
                resolved[type_sql] = _type(conn, type_sql, server_version)
    except psycopg.Error as exc:
        raise database_error("could not read the columns the operations change", exc) from None
    return CatalogFacts(columns=found, types=resolved)


def _column(conn: Connection, key: ColumnKey) -> ColumnFacts | None:
    schema, table, column = key
    row = conn.execute(_COLUMN, (qualified(schema, table), column)).fetchone()
    if row is None:
        return None
    full, base, not_null, default, unique, indexed = row
    return ColumnFacts(
        type=full,
        base_type=base,
        not_null=bool(not_null),
        default=default,
        unique=bool(unique),
        indexed=bool(indexed),
    )


def _type(conn: Connection, type_sql: str, server_version: int) -> str | None:
    """The server's spelling of a declared type; None when it does not know it."""
    modifiers = "to_regtypemod(%s)" if server_version >= _TYPE_WITH_MODIFIERS_SINCE else "NULL"
    query = f"SELECT format_type(to_regtype(%s), {modifiers})"
    params = (type_sql, type_sql) if modifiers != "NULL" else (type_sql,)
    try:
        with conn.transaction():  # a savepoint: older servers raise on a malformed name
            row = conn.execute(query, params).fetchone()
    except psycopg.Error:
        if conn.broken:
            raise
        return None
    return row[0] if row is not None and row[0] is not None else None
