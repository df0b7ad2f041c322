"""D301 truncate."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Truncate
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display, existing_tables, listed
from expandctl.lint.source import Statement


class TruncateTable(Rule):
    """``TRUNCATE`` of an existing table.

    Lock or breakage: every row is gone at once, without a trace in the
    migration history, and the ACCESS EXCLUSIVE lock blocks all queries
    while it waits. ``TRUNCATE ... CASCADE`` also empties every table with a
    foreign key to it.

    Safe alternative: delete exactly the rows you mean, in batches, with a
    WHERE clause, or retire the table in contract and drop it.

    Bad:
        TRUNCATE audit_log;

    Good:
        DELETE FROM audit_log WHERE id < 5000 AND created_at < now() - interval '90 days';
    """

    id = "D301"
    name = "truncate"
    group = "data-loss"
    actions = (Truncate,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Truncate)
        tables = existing_tables(ctx, action.tables)
        if not tables:
            return
        yield Violation(
            f"TRUNCATE removes every row of {listed(tables)} at once (irreversibly, under an "
            "ACCESS EXCLUSIVE lock)"
            + (", and of every table referencing it" if action.cascade else "")
            + ".",
            f"DELETE FROM {display(tables[0])} WHERE <the rows you mean>, in batches.",  # noqa: S608
        )
