"""L111 statements-after-exclusive-lock."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, EndTransaction
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class StatementsAfterExclusiveLock(Rule):
    """More statements after an ACCESS EXCLUSIVE lock in the same transaction.

    Lock or breakage: a lock is held until the transaction ends. Once a
    statement in an explicit transaction block has taken an ACCESS EXCLUSIVE
    lock on an existing table (ALTER TABLE, DROP, TRUNCATE, LOCK ...), every
    following statement — and any lock it has to wait for — extends the time
    that all queries on that table are blocked.

    Safe alternative: commit right after the statement that takes the strong
    lock: put it in its own transaction (or leave out BEGIN/COMMIT so each
    statement commits on its own), and do the other work separately.

    Bad:
        BEGIN;
        ALTER TABLE users ADD COLUMN nickname text;
        UPDATE users SET nickname = name WHERE id < 1000;
        COMMIT;

    Good:
        ALTER TABLE users ADD COLUMN nickname text;
        UPDATE users SET nickname = name WHERE id < 1000;
    """

    id = "L111"
    name = "statements-after-exclusive-lock"
    group = "locking"

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        tx = ctx.tx
        if tx.exclusive_table is None or tx.exclusive_reported:
            return
        if isinstance(action, EndTransaction) or action is not statement.actions[0]:
            return
        tx.exclusive_reported = True
        table = display(tx.exclusive_table)
        yield Violation(
            f"this statement runs while the transaction still holds an ACCESS EXCLUSIVE lock on "
            f"{table}: all queries on {table} stay blocked until COMMIT, however long this takes.",
            f"COMMIT right after the statement that locks {table}, and run this one in its own "
            "transaction.",
        )
