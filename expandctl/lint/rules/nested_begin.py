"""T402 nested-begin."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Begin
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class NestedBegin(Rule):
    """``BEGIN`` while a transaction block is already open.

    Lock or breakage: PostgreSQL does not nest transactions: the inner BEGIN
    only warns, and the inner COMMIT commits everything so far — the outer
    block's ROLLBACK can no longer undo it, and locks are released early.

    Safe alternative: one BEGIN/COMMIT pair per block; use SAVEPOINT for a
    partial rollback.

    Bad:
        BEGIN;
        BEGIN;
        COMMIT;
        COMMIT;

    Good:
        BEGIN;
        SAVEPOINT before_change;
        COMMIT;
    """

    id = "T402"
    name = "nested-begin"
    group = "transactions"
    actions = (Begin,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if not ctx.in_transaction:
            return
        opened = ctx.tx.open_at
        line = getattr(opened, "line", "?")
        yield Violation(
            f"a transaction block is already open (BEGIN on line {line}); PostgreSQL does not "
            "nest them, so the next COMMIT commits everything since that line.",
            "remove this BEGIN, or close the first block with COMMIT before it; use SAVEPOINT "
            "for partial rollback.",
        )
