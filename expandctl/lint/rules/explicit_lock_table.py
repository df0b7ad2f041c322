"""L110 explicit-lock-table."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, LockTable
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import existing_tables, listed
from expandctl.lint.source import Statement


class ExplicitLockTable(Rule):
    """An explicit ``LOCK TABLE``.

    Lock or breakage: ``LOCK TABLE`` defaults to ACCESS EXCLUSIVE and holds
    the lock until the transaction ends: every query on the table waits, and
    while the LOCK itself waits for running queries, new ones queue behind it.

    Safe alternative: let each statement take the weakest lock it needs, set
    a short ``lock_timeout`` so a blocked migration gives up instead of
    queueing traffic, and keep transactions short.

    Bad:
        BEGIN;
        LOCK TABLE users IN ACCESS EXCLUSIVE MODE;
        ALTER TABLE users ADD COLUMN nickname text;
        COMMIT;

    Good:
        SET lock_timeout = '2s';
        ALTER TABLE users ADD COLUMN nickname text;
    """

    id = "L110"
    name = "explicit-lock-table"
    group = "locking"
    actions = (LockTable,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, LockTable)
        tables = existing_tables(ctx, action.tables)
        if not tables:
            return
        names = listed(tables)
        yield Violation(
            f"LOCK TABLE {names} takes a {action.mode} lock held until the transaction ends: "
            f"queries on {names} wait for the whole transaction.",
            "drop the explicit LOCK; let each statement take the lock it needs, and set "
            "lock_timeout (e.g. SET lock_timeout = '2s') so a waiting migration gives up "
            "instead of queueing traffic.",
        )
