"""NOT NULL without a long exclusive lock: a helper CHECK, validated, then promoted.

``SET NOT NULL`` alone scans the whole table under an ACCESS EXCLUSIVE lock.
Instead: ``CHECK (column IS NOT NULL) NOT VALID``, validated in its own
transaction; then ``SET NOT NULL``, which PostgreSQL 12+ accepts without a
scan because the validated check proves it, and the helper is dropped.
add_column, set_not_null, drop_not_null (undone) and column_sync share these
steps and the helper's generated name (``expandctl_0013_users_nickname_not_null``);
call them module-qualified: ``not_null_check.add(op, ctx, column)``.
"""

from __future__ import annotations

from expandctl.model.ops.base import PlanContext, TableOperation, generated_name, sql
from expandctl.model.ops.validated_constraint import add_not_valid, drop_constraint, validate
from expandctl.model.retires import ObjectKind, RetiredObject
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


def name(op: TableOperation, ctx: PlanContext, column: str) -> str:
    """The helper check's name, as PostgreSQL stores it (unquoted)."""
    return generated_name(ctx, op.table, column, "not_null")


def add(op: TableOperation, ctx: PlanContext, column: str) -> list[Step]:
    """The helper check added NOT VALID, then validated in its own transaction."""
    helper = name(op, ctx, column)
    return [
        add_not_valid(op, ctx, helper, f"CHECK ({quote_ident(column)} IS NOT NULL)"),
        validate(op, ctx, helper),
    ]


def promote(op: TableOperation, ctx: PlanContext, column: str) -> list[Step]:
    """The real NOT NULL (instant after the validated check), then the helper dropped."""
    return [
        sql(op, ctx, f"ALTER TABLE {op.target} ALTER COLUMN {quote_ident(column)} SET NOT NULL"),
        drop(op, ctx, column),
    ]


def drop(op: TableOperation, ctx: PlanContext, column: str) -> Step:
    return drop_constraint(op, ctx, name(op, ctx, column))


def retired(op: TableOperation, ctx: PlanContext, column: str) -> RetiredObject:
    """The ``retires`` entry: contract drops the helper, and the lint gate expects that."""
    return op.retired(ObjectKind.CONSTRAINT, name(op, ctx, column))
