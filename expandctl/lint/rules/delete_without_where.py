"""D302 delete-without-where."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, WriteRows
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class DeleteWithoutWhere(Rule):
    """``DELETE`` without a ``WHERE`` clause.

    Lock or breakage: every row of the table is deleted, and every row stays
    locked until the statement commits, blocking concurrent writes.

    Safe alternative: say which rows with ``WHERE``, and delete in batches.

    Bad:
        DELETE FROM sessions;

    Good:
        DELETE FROM sessions WHERE id BETWEEN 1 AND 5000 AND expires_at < now();
    """

    id = "D302"
    name = "delete-without-where"
    group = "data-loss"
    actions = (WriteRows,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, WriteRows)
        if action.verb != "DELETE" or action.where or ctx.is_new_table(action.table):
            return
        table = display(action.table or "the table")
        yield Violation(
            f"DELETE FROM {table} without WHERE deletes every row "  # noqa: S608 (advice text)
            "(and locks them all until commit).",
            f"DELETE FROM {table} WHERE <the rows you mean>, in batches.",  # noqa: S608
        )
