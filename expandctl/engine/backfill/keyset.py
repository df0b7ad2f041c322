"""The SQL of one keyset batch: find the next upper key, update the range.

Keys travel as text (``key::text``) and come back with an explicit cast to
the column type, so any key type with a text form works, and composite keys
compare as row values: ``(a, b) > (x, y)`` is the lexicographic order of the
index, unlike ``a > x AND b > y`` which would skip rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import psycopg
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
        # only in statements that take parameters
        return sql.SQL("({})").format(
            sql.SQL(", ").join(_param_safe(sql.Identifier(k)) for k in self.key)
        )

    @property
    def _table(self) -> sql.Composable:
        """The table, in a statement that also takes ``%s`` parameters."""
        return _param_safe(self.table)

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

    def _text_keys(self, prefix: str = "", *, with_params: bool = False) -> sql.Composable:
        def name(key: str) -> sql.Composable:
            ident = sql.Identifier(prefix, key) if prefix else sql.Identifier(key)
            return _param_safe(ident) if with_params else ident

        return sql.SQL(", ").join(sql.SQL("{}::text").format(name(k)) for k in self.key)

    def next_bound(self, *, lower: bool) -> sql.Composed:
        """The key ``n - 1`` rows past the lower key: the upper key of a full batch.

        An index-only walk over this one batch's range, no sort and no text
        conversion of the rows it skips. The OFFSET is bounded by the batch
        size and starts at the last key, so it costs the same at the end of
        the table as at its start (unlike an OFFSET over the whole table).
        No row means fewer than ``n`` rows are left: see :func:`find_upper`.

        Parameters: [lower key...], end key..., n - 1.
        """
        # qualified: a bare "id" in ORDER BY would sort the ::text output column
        order = sql.SQL(", ").join(_param_safe(sql.Identifier("t", k)) for k in self.key)
        return sql.SQL(
            "SELECT {text_keys} FROM {table} AS t WHERE {range} ORDER BY {order} OFFSET %s LIMIT 1"
        ).format(
            text_keys=self._text_keys("t", with_params=True),
            table=self._table,
            range=self._range(lower=lower),
            order=order,
        )

    def count_range(self, *, lower: bool) -> sql.Composed:
        """Rows left in ``(lower, end]``: only for the last, short batch of a pass.

        Parameters: [lower key...], end key...
        """
        return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
            self._table, self._range(lower=lower)
        )

    def update(self, *, lower: bool) -> sql.Composed:
        """Update the rows of ``(lower, upper]`` that still match ``where``.

        Parameters: [lower key...], upper key...
        """
        # Expressions were checked to be single expressions; the newlines keep a
        # trailing ``--`` comment from swallowing the closing parenthesis.
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = (\n{}\n)").format(_param_safe(sql.Identifier(col)), _with_params(expr))
            for col, expr in self.spec.set.items()
        )
        return sql.SQL("UPDATE {table} SET {assignments} WHERE {range} AND (\n{where}\n)").format(
            table=self._table,
            assignments=assignments,
            range=self._range(lower=lower),
            where=_with_params(self.spec.where),
        )

    def split_keys(self, *, lower: bool) -> sql.Composed:
        """Keys cutting a block sample of ``(lower, end]`` into equal parts, in key order.

        ``ntile`` numbers the sampled keys 1..parts in key order; the largest key
        of each part is returned (the last one is the sample's largest and is not
        a cut). ``TABLESAMPLE SYSTEM`` reads only the sampled pages.

        Parameters: parts, sample percent, [lower key...], end key...
        """
        t_keys = sql.SQL(", ").join(_param_safe(sql.Identifier("t", k)) for k in self.key)
        # qualified: a bare "id" in ORDER BY would sort the ::text output column
        desc = sql.SQL(", ").join(
            sql.SQL("{} DESC").format(_param_safe(sql.Identifier("s", k))) for k in self.key
        )
        return sql.SQL(
            "SELECT DISTINCT ON (s.part) {text_keys} FROM ("
            " SELECT {t_keys}, ntile(%s) OVER (ORDER BY {t_keys}) AS part"
            " FROM {table} AS t TABLESAMPLE SYSTEM (%s::real) WHERE {range}"
            ") AS s ORDER BY s.part, {desc}"
        ).format(
            text_keys=self._text_keys("s", with_params=True),
            t_keys=t_keys,
            table=self._table,
            range=self._range(lower=lower),
            desc=desc,
        )

    @cached_property
    def queries(self) -> BatchQueries:
        """The per-batch statements rendered once: composing them costs ~0.1 ms a batch."""

        def both(build: Any) -> tuple[bytes, bytes]:
            return build(lower=False).as_bytes(None), build(lower=True).as_bytes(None)

        return BatchQueries(
            bound=both(self.next_bound), update=both(self.update), count=both(self.count_range)
        )

    def remaining(self) -> sql.Composed:
        """Rows of the whole table still to do (verification)."""
        return sql.SQL("SELECT count(*) FROM {} WHERE (\n{}\n)").format(
            self.table,
            sql.SQL(self.spec.where),
        )


def _param_safe(name: sql.Composable) -> sql.SQL:
    """A quoted name inside a statement that also takes ``%s`` parameters.

    psycopg reads every ``%`` of such a statement as a placeholder, quoted
    names included: a column ``"rate%"`` must reach it as ``"rate%%"``.
    """
    return sql.SQL(name.as_string(None).replace("%", "%%"))


def _with_params(expression: str) -> sql.SQL:
    """A manifest expression inside a statement that also takes ``%s`` parameters.

    psycopg reads every ``%`` of such a statement as a placeholder, so the
    ``%`` of ``LIKE 'a%'`` or a modulo must be doubled to reach the server as is.
    """
    return sql.SQL(expression.replace("%", "%%"))


@dataclass(frozen=True)
class BatchQueries:
    """Rendered statements, each as ``(without lower key, with lower key)``."""

    bound: tuple[bytes, bytes]
    update: tuple[bytes, bytes]
    count: tuple[bytes, bytes]


def batch_params(lower: Sequence[str] | None, upper: Sequence[str]) -> list[str]:
    return [*(lower or ()), *upper]


def find_upper(
    conn: psycopg.Connection[Any],
    keyset: KeysetSql,
    lower: Sequence[str] | None,
    end: Sequence[str],
    size: int,
) -> tuple[list[str], int] | None:
    """The next batch's upper key and how many rows ``(lower, upper]`` holds.

    None when ``(lower, end]`` is empty (rows were deleted meanwhile).
    """
    has_lower = lower is not None
    params = batch_params(lower, end)
    queries = keyset.queries
    row = conn.execute(queries.bound[has_lower], [*params, size - 1]).fetchone()
    if row is not None:
        return list(row), size
    counted = conn.execute(queries.count[has_lower], params).fetchone()
    left = int(counted[0]) if counted else 0
    return (list(end), left) if left else None


def plan_text(spec: BackfillSpec, key: Sequence[str] | None = None) -> str:
    """The batch statement as ``plan`` shows it, with named placeholders."""
    from sqlglot import exp

    columns = list(key or spec.key or [])
    table = exp.to_table(spec.table, dialect="postgres").sql(dialect="postgres")
    key_row = ", ".join(_quote(k) for k in columns) or "<primary key>"
    last = ", ".join(f":last_{k}" for k in columns) or ":last"
    upper = ", ".join(f":upper_{k}" for k in columns) or ":upper"
    assignments = ",\n    ".join(f"{_quote(c)} = ({e})" for c, e in spec.set.items())
    text = (
        f"-- each batch, in its own transaction with SET LOCAL lock_timeout/statement_timeout:\n"
        f"SELECT {key_row} FROM {table}\n"
        f"  WHERE ({key_row}) > ({last}) ORDER BY {key_row}"
        f" OFFSET :batch_size - 1 LIMIT 1;"
        f"  -- :upper; an index-only walk of one batch\n"
        f"UPDATE {table} SET\n    {assignments}\n"
        f"  WHERE ({key_row}) > ({last}) AND ({key_row}) <= ({upper})\n"
        f"    AND ({spec.where});\n"
        f"-- then the checkpoint (last key, rows done) is written in the same transaction"
    )
    return text + _workers_note(spec)


def _workers_note(spec: BackfillSpec) -> str:
    if spec.workers == 1:
        return ""
    return (
        f"\n-- workers = {spec.workers!r}: that many connections run these batches on"
        " disjoint key ranges, each range with its own checkpoint"
    )


def _quote(name: str) -> str:
    if name.isidentifier() and name.islower() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'
