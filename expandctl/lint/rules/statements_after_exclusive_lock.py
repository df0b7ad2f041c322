"""L111 statements-after-exclusive-lock."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._locks import held_lock, lock_words
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class StatementsAfterExclusiveLock(Rule):
    """More statements after an ACCESS EXCLUSIVE lock in the same transaction block.

    Lock or breakage: a lock is held until the transaction ends. Once a
    statement inside BEGIN … COMMIT has taken an ACCESS EXCLUSIVE lock on an
    existing table (ALTER TABLE, DROP, TRUNCATE, LOCK ...), every following
    statement that scans, writes rows, or needs a lock on another table keeps
    every query on the locked table waiting until COMMIT. The same holds,
    for writes, after a SHARE ROW EXCLUSIVE lock (adding a foreign key locks
    both tables so; CREATE TRIGGER). Instant follow-ups
    are not counted: catalog-only changes to the same table, SET, creating
    functions, and the one-row version bookkeeping of migration tools
    (``alembic_version``, ``django_migrations``, ``flyway_schema_history`` ...).
    Phase files have no BEGIN; see ``phase-transaction-holds-lock``.

    Safe alternative: commit right after the statement that takes the strong
    lock, and run the rest in its own transaction.

    Bad:
        BEGIN;
        ALTER TABLE users ADD COLUMN nickname text;
        UPDATE users SET nickname = name WHERE id < 1000;
        COMMIT;

    Good:
        BEGIN;
        ALTER TABLE users ADD COLUMN nickname text;
        COMMIT;
        UPDATE users SET nickname = name WHERE id < 1000;
    """

    id = "L111"
    name = "statements-after-exclusive-lock"
    group = "locking"

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if not ctx.in_transaction:
            return
        held = held_lock(ctx, statement, action)
        if held is None:
            return
        table = display(held)
        mode, blocked = lock_words(ctx)
        yield Violation(
            f"this statement runs while the transaction still holds a {mode} lock on "
            f"{table}: {blocked} on {table} stay blocked until COMMIT, however long this "
            "takes.",
            f"COMMIT right after the statement that locks {table}, and run this one in its own "
            "transaction.",
        )
