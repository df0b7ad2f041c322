"""The SQL of one keyset batch: find the next upper key, update the range.

Keys travel as text (``key::text``) and come back with an explicit cast to
the column type, so any key type with a text form works, and composite keys
compare as row values: ``(a, b) > (x, y)`` is the lexicographic order of the
index, unlike ``a > x AND b > y`` which would skip rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from expandctl.model.backfill import BackfillSpec


@dataclass(frozen=True)
class KeysetSql:
    """Statements for one table; placeholders are filled per batch."""

    table: sql.Composable
    key: tuple[str, ...]
    key_types: tuple[str, ...]
    spec: BackfillSpec

    @property
    def _key_row(self) -> sql.Composable:
        return sql.SQL("({})").format(sql.SQL(", ").join(sql.Identifier(k) for k in self.key))

    def _params_row(self) -> sql.Composable:
        # The type text comes from format_type() in the catalog, not from the manifest.
        return sql.SQL("({})").format(
            sql.SQL(", ").join(sql.SQL("%s::" + t) for t in self.key_types)
        )

    def _range(self, *, lower: bool) -> sql.Composed:
        upper = sql.SQL("{} <= {}").format(self._key_row, self._params_row())
        if not lower:
            return upper
        return sql.SQL("{} > {} AND {}").format(self._key_row, self._params_row(), upper)

    def max_key(self) -> sql.Composed:
        """The fixed upper bound of a pass: the largest key at start."""
        # qualified names: a bare "id" in ORDER BY would sort the ::text output column
        order = sql.SQL(", ").join(
            sql.SQL("{} DESC").format(sql.Identifier("t", k)) for k in self.key
        )
        return sql.SQL("SELECT {} FROM {} AS t ORDER BY {} LIMIT 1").format(
            self._text_keys("t"), self.table, order
        )

    def _text_keys(self, prefix: str = "") -> sql.Composable:
        return sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(prefix, k) if prefix else sql.Identifier(k))
            for k in self.key
        )

    def next_bound(self, *, lower: bool) -> sql.Composed:
        """The last key of the next ``n`` rows: a LIMIT keyset scan, never OFFSET.

        Parameters: [lower key...], end key..., n.
        """
        order = sql.SQL(", ").join(sql.Identifier(k) for k in self.key)
        order_desc = sql.SQL(", ").join(
            sql.SQL("{} DESC").format(sql.Identifier("s", k)) for k in self.key
        )
        return sql.SQL(
            "SELECT {text_keys}, count(*) OVER () FROM ("
            "SELECT {order} FROM {table} WHERE {range} ORDER BY {order} LIMIT %s"
            ") AS s ORDER BY {order_desc} LIMIT 1"
        ).format(
            text_keys=self._text_keys("s"),
            order=order,
            table=self.table,
            range=self._range(lower=lower),
            order_desc=order_desc,
        )

    def update(self, *, lower: bool) -> sql.Composed:
        """Update the rows of ``(lower, upper]`` that still match ``where``.

        Parameters: [lower key...], upper key...
        """
        # Expressions were checked to be single expressions; the newlines keep a
        # trailing ``--`` comment from swallowing the closing parenthesis.
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = (\n{}\n)").format(sql.Identifier(col), sql.SQL(expr))
            for col, expr in self.spec.set.items()
        )
        return sql.SQL("UPDATE {table} SET {assignments} WHERE {range} AND (\n{where}\n)").format(
            table=self.table,
            assignments=assignments,
            range=self._range(lower=lower),
            where=sql.SQL(self.spec.where),
        )

    def remaining(self) -> sql.Composed:
        """Rows of the whole table still to do (verification)."""
        return sql.SQL("SELECT count(*) FROM {} WHERE (\n{}\n)").format(
            self.table,
            sql.SQL(self.spec.where),
        )


def batch_params(lower: Sequence[str] | None, upper: Sequence[str]) -> list[str]:
    return [*(lower or ()), *upper]


def plan_text(spec: BackfillSpec, key: Sequence[str] | None = None) -> str:
    """The batch statement as ``plan`` shows it, with named placeholders."""
    from sqlglot import exp

    columns = list(key or spec.key or [])
    table = exp.to_table(spec.table, dialect="postgres").sql(dialect="postgres")
    key_row = ", ".join(_quote(k) for k in columns) or "<primary key>"
    last = ", ".join(f":last_{k}" for k in columns) or ":last"
    upper = ", ".join(f":upper_{k}" for k in columns) or ":upper"
    assignments = ",\n    ".join(f"{_quote(c)} = ({e})" for c, e in spec.set.items())
    return (
        f"-- each batch, in its own transaction with SET LOCAL lock_timeout/statement_timeout:\n"
        f"SELECT {key_row} FROM {table}\n"
        f"  WHERE ({key_row}) > ({last}) ORDER BY {key_row} LIMIT :batch_size;"
        f"  -- :upper = the last of these\n"
        f"UPDATE {table} SET\n    {assignments}\n"
        f"  WHERE ({key_row}) > ({last}) AND ({key_row}) <= ({upper})\n"
        f"    AND ({spec.where});\n"
        f"-- then the checkpoint (last key, rows done) is written in the same transaction"
    )


def _quote(name: str) -> str:
    if name.isidentifier() and name.islower() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'
