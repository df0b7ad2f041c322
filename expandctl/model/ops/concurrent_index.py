"""Index steps built and dropped CONCURRENTLY: the one spelling every operation uses.

CONCURRENTLY lets reads and writes through while the index builds or goes,
but cannot run inside a transaction: the step runs alone in autocommit, is
re-runnable (IF [NOT] EXISTS), and carries the index's name and action so
the engine can drop an INVALID index an interrupted build left behind.
create_index, add_unique, drop_index and column_sync's carried index share it.
"""

from __future__ import annotations

from collections.abc import Sequence

from expandctl.model.ops.base import OperationBase, PlanContext, TableOperation, sql
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


def create(
    op: TableOperation,
    ctx: PlanContext,
    name: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    using: str | None = None,
    where: str | None = None,
) -> Step:
    """``CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS name ON table``, in its schema."""
    cols = ", ".join(quote_ident(c) for c in columns)
    text = (
        f"CREATE {'UNIQUE ' if unique else ''}INDEX CONCURRENTLY IF NOT EXISTS"
        f" {quote_ident(name)} ON {op.target}"
        f"{f' USING {using}' if using else ''} ({cols})"
        f"{f' WHERE {where}' if where else ''}"
    )
    return sql(op, ctx, text, autocommit=True, index=op.in_schema(name), action="create")


def drop(op: OperationBase, ctx: PlanContext, index: str) -> Step:
    """``DROP INDEX CONCURRENTLY IF EXISTS``; ``index`` is quoted, schema-qualified if needed."""
    return sql(
        op,
        ctx,
        f"DROP INDEX CONCURRENTLY IF EXISTS {index}",
        autocommit=True,
        index=index,
        action="drop",
    )
