"""T403 transaction-left-open."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class TransactionLeftOpen(Rule):
    """A file that ends with its transaction block still open.

    Lock or breakage: a BEGIN without COMMIT leaves the transaction — and
    every lock it took — open until the session ends or the runner decides
    what to do; its changes may be rolled back silently.

    Safe alternative: end every BEGIN with COMMIT in the same file.

    Bad:
        BEGIN;
        ALTER TABLE users ADD COLUMN nickname text;

    Good:
        BEGIN;
        ALTER TABLE users ADD COLUMN nickname text;
        COMMIT;
    """

    id = "T403"
    name = "transaction-left-open"
    group = "transactions"

    def finish(self, ctx: LintContext) -> Iterator[tuple[Statement, Violation]]:
        opened = ctx.tx.open_at
        if isinstance(opened, Statement):
            yield (
                opened,
                Violation(
                    "this BEGIN is never committed: the file ends with the transaction and all its "
                    "locks still open.",
                    "add COMMIT; at the end of the block.",
                ),
            )
