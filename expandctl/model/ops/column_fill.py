"""A column's value for rows to come (its default) and for NULL rows already there.

add_column and set_not_null fill a column the same way: the default is set
in expand (catalog only, never a rewrite) so writers that omit the column
stop producing NULLs, then backfill replaces the existing NULLs in keyset
batches. Both steps live here so the two operations agree on them.
"""

from __future__ import annotations

from expandctl.model.backfill import BackfillSpec
from expandctl.model.ops.base import PlanContext, TableOperation, backfill, sql
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


def set_default(op: TableOperation, ctx: PlanContext, column: str, default: str) -> Step:
    return sql(
        op, ctx, f"ALTER TABLE {op.target} ALTER COLUMN {quote_ident(column)} SET DEFAULT {default}"
    )


def fill_nulls(op: TableOperation, ctx: PlanContext, column: str, value: str) -> Step:
    """The backfill setting ``column = value`` (SQL) wherever it is NULL."""
    spec = BackfillSpec(
        table=op.target, set={column: value}, where=f"{quote_ident(column)} IS NULL"
    )
    return backfill(ctx, spec)
