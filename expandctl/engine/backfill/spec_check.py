"""Check a ``[backfill]`` spec against the live table before anything runs.

Resolves the table, picks the batch key (primary key, else a unique NOT NULL
key), and refuses unknown columns and anything in ``set``/``where`` that is
not exactly one plain SQL expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import sqlglot
from psycopg import sql
from sqlglot import exp

from expandctl.errors import ManifestError
from expandctl.model.backfill import BackfillSpec

# Nodes that make an "expression" a statement or let it change data.
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Into,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Set,
    exp.Copy,
    exp.TruncateTable,
)


@dataclass(frozen=True)
class TableInfo:
    """The resolved target of a backfill."""

    schema: str
    name: str
    key: tuple[str, ...]
    key_types: tuple[str, ...]  # format_type() text, used to cast checkpointed keys back
    columns: frozenset[str]
    reltuples: int

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


# Functions whose effect a READ ONLY transaction that is rolled back does not undo:
# session locks, signals to other backends, server settings, outside connections.
_SIDE_EFFECT_PREFIXES = (
    "pg_advisory",
    "pg_try_advisory",
    "pg_terminate",
    "pg_cancel",
    "pg_reload",
    "pg_rotate",
    "pg_switch_wal",
    "pg_create_",
    "pg_drop_replication",
    "pg_replication_origin",
    "pg_promote",
    "dblink",
    "lo_",
)
_SIDE_EFFECT_FUNCTIONS = frozenset(
    {"set_config", "setval", "pg_notify", "pg_log_backend_memory_contexts"}
)


def check_expression(text: str, *, what: str) -> None:
    """Accept exactly one SQL expression; refuse statements and data-modifying parts."""
    try:
        parsed = [node for node in sqlglot.parse(text, read="postgres") if node is not None]
    except sqlglot.errors.ParseError as exc:
        raise ManifestError(
            f"backfill {what} is not valid SQL: {text!r}",
            hint=str(exc).splitlines()[0],
        ) from exc
    if len(parsed) != 1:
        raise ManifestError(
            f"backfill {what} must be one SQL expression, got {len(parsed)} statements: {text!r}",
            hint="write a single expression such as lower(email); no ';'",
        )
    node = parsed[0]
    if isinstance(node, exp.Query | exp.DDL | exp.DML) and not isinstance(node, exp.Subquery):
        raise ManifestError(
            f"backfill {what} must be an expression, not a {node.key.upper()} statement: {text!r}",
            hint="write an expression over the row, e.g. lower(email), or a (SELECT ...) lookup",
        )
    for bad in node.find_all(*_FORBIDDEN_NODES):
        raise ManifestError(
            f"backfill {what} may not modify data or run commands ({bad.key.upper()}): {text!r}",
            hint="only read-only expressions are allowed",
        )
    for call in node.find_all(exp.Func):
        name = (call.name if isinstance(call, exp.Anonymous) else call.sql_name()).lower()
        if name.startswith(_SIDE_EFFECT_PREFIXES) or name in _SIDE_EFFECT_FUNCTIONS:
            raise ManifestError(
                f"backfill {what} may not call {name}(): it acts on the server or other"
                f" sessions, and a read-only transaction does not undo that: {text!r}",
                hint="only read-only expressions are allowed",
            )


def _split_table(text: str) -> tuple[str | None, str]:
    try:
        table = exp.to_table(text, dialect="postgres")
    except sqlglot.errors.ParseError as exc:
        raise ManifestError(f"backfill table {text!r} is not a table name") from exc
    if table.catalog:
        raise ManifestError(f"backfill table {text!r}: write schema.table, not a 3-part name")
    return (table.db or None), table.name


def resolve_table(conn: psycopg.Connection[Any], spec: BackfillSpec) -> TableInfo:
    """Look the table, its columns and its batch key up in the catalog."""
    schema, name = _split_table(spec.table)
    qualified = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    row = conn.execute(
        "SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::bigint"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')",
        (qualified.as_string(conn),),
    ).fetchone()
    if row is None:
        raise ManifestError(
            f"backfill table {spec.table!r} does not exist",
            hint="run the expand phase first, or fix the table name (schema.table)",
        )
    oid, schema_name, table_name, reltuples = row
    columns = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
            " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (oid,),
        )
    }
    display = f"{schema_name}.{table_name}"
    unknown = sorted(set(spec.set) - columns.keys())
    if unknown:
        raise ManifestError(
            f"backfill set: unknown column(s) {', '.join(unknown)} in table {display}",
            hint="add the column in the expand phase first, or fix the name",
        )
    key = tuple(spec.key) if spec.key else _default_key(conn, oid, display)
    missing = [k for k in key if k not in columns]
    if missing:
        raise ManifestError(
            f"backfill key: unknown column(s) {', '.join(missing)} in table {display}"
        )
    nullable = [k for k in key if not columns[k][1]]
    if nullable:
        raise ManifestError(
            f"backfill key column(s) {', '.join(nullable)} of {display} may be NULL;"
            " rows with a NULL key would never be visited",
            hint="use the primary key or a unique NOT NULL key",
        )
    overlap = sorted(set(key) & set(spec.set))
    if overlap:
        raise ManifestError(
            f"backfill set may not change the batch key column(s) {', '.join(overlap)}",
            hint="batches walk the key; changing it would skip or repeat rows",
        )
    for column, expression in spec.set.items():
        check_expression(expression, what=f"set.{column}")
    check_expression(spec.where, what="where")
    return TableInfo(
        schema=schema_name,
        name=table_name,
        key=key,
        key_types=tuple(columns[k][0] for k in key),
        columns=frozenset(columns),
        reltuples=int(reltuples),
    )


def _default_key(conn: psycopg.Connection[Any], oid: int, display: str) -> tuple[str, ...]:
    """The primary key, else the narrowest unique index over NOT NULL plain columns."""
    rows = conn.execute(
        """
        SELECT i.indisprimary,
               array_agg(a.attname ORDER BY k.ord) AS cols,
               bool_and(a.attnotnull) AS notnull
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = %s AND i.indisunique AND i.indisvalid
          AND i.indpred IS NULL AND i.indexprs IS NULL
          AND k.ord <= i.indnkeyatts
        GROUP BY i.indexrelid, i.indisprimary
        ORDER BY i.indisprimary DESC, count(*), i.indexrelid
        """,
        (oid,),
    ).fetchall()
    for _primary, cols, notnull in rows:
        if notnull:
            return tuple(cols)
    raise ManifestError(
        f"table {display} has no primary key or unique NOT NULL key to batch by",
        hint=(
            f"add one in the expand phase (ALTER TABLE {display} ADD PRIMARY KEY (id), or a"
            " UNIQUE index CONCURRENTLY on NOT NULL columns), or name key columns with"
            " key = [...] in [backfill]"
        ),
    )


def check_statements(conn: psycopg.Connection[Any], update: sql.Composed, keys: int) -> None:
    """EXPLAIN the batch UPDATE once, so a typo in an expression fails before any batch."""
    try:
        with conn.transaction():
            conn.execute(sql.SQL("EXPLAIN ") + update, [None] * (2 * keys))
    except psycopg.errors.SyntaxError as exc:
        raise ManifestError(f"backfill SQL is invalid: {_first_line(exc)}") from exc
    except (
        psycopg.errors.UndefinedColumn,
        psycopg.errors.UndefinedFunction,
        psycopg.errors.UndefinedTable,
        psycopg.errors.DatatypeMismatch,
        psycopg.errors.InvalidTextRepresentation,
        psycopg.errors.AmbiguousColumn,
        psycopg.errors.GroupingError,
        psycopg.errors.WrongObjectType,
    ) as exc:
        raise ManifestError(
            f"backfill set/where does not fit the table: {_first_line(exc)}",
            hint="check the column names and types in [backfill] set and where",
        ) from exc


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
