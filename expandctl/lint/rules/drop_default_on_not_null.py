"""C209 drop-default-on-not-null."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, DropDefault
from expandctl.lint.context import LintContext, norm
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import compat_exempt, display
from expandctl.lint.source import Statement


class DropDefaultOnNotNull(Rule):
    """Dropping the default of a NOT NULL column while old code may omit the column.

    Lock or breakage: application code that does not set the column relies
    on the default; once it is gone every such INSERT fails with a not-null
    violation. (Reported unless the column is known to be nullable from
    earlier in the same file or migration.)

    Safe alternative: first make every writer set the column explicitly,
    then drop the default in contract, once only that code runs.

    Bad:
        ALTER TABLE users ALTER COLUMN status DROP DEFAULT;

    Good:
        ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active';
    """

    id = "C209"
    name = "drop-default-on-not-null"
    group = "compatibility"
    actions = (DropDefault,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, DropDefault)
        table = display(action.table or "")
        key = (norm(action.table or ""), action.column)
        if key in ctx.nullable_columns and key not in ctx.not_null_columns:
            return
        if compat_exempt(ctx, "table", table) or ctx.retired("column", f"{table}.{action.column}"):
            return
        yield Violation(
            f"dropping the default of {table}.{action.column} makes every INSERT that omits "
            f"{action.column} fail (NOT NULL) — which is what the still-running application "
            "version does if it predates the column.",
            f"make every writer set {action.column} explicitly first, then drop the default "
            "in the contract phase.",
        )
