"""L111 statements-after-exclusive-lock."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, EndTransaction, Harmless, WriteRows
from expandctl.lint.context import LintContext, norm
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement

# Migration tools record the applied version in the same transaction; that
# one-row write is part of every tool's pattern and takes no time.
BOOKKEEPING_TABLES = frozenset(
    {
        "alembic_version", "django_migrations", "flyway_schema_history", "schema_migrations",
        "goose_db_version", "knex_migrations", "schema_version", "__diesel_schema_migrations",
    }
)  # fmt: skip


def _instant(action: Action, ctx: LintContext) -> bool:
    """Settings, and writes to version tables or tables created in this file."""
    if isinstance(action, Harmless) and action.what in ("SET", "RESET"):
        return True
    if isinstance(action, Harmless | WriteRows) and action.table:
        return norm(action.table) in BOOKKEEPING_TABLES or ctx.is_new_table(action.table)
    return False


class StatementsAfterExclusiveLock(Rule):
    """More statements after an ACCESS EXCLUSIVE lock in the same transaction.

    Lock or breakage: a lock is held until the transaction ends. Once a
    statement in an explicit transaction block has taken an ACCESS EXCLUSIVE
    lock on an existing table (ALTER TABLE, DROP, TRUNCATE, LOCK ...), every
    following statement — and any lock it has to wait for — extends the time
    that all queries on that table are blocked.

    Safe alternative: commit right after the statement that takes the strong
    lock: put it in its own transaction (or leave out BEGIN/COMMIT so each
    statement commits on its own), and do the other work separately. ``SET``
    and the one-row version bookkeeping of migration tools (``alembic_version``,
    ``django_migrations``, ``flyway_schema_history`` ...) are not counted.

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
        if all(_instant(x, ctx) for x in statement.actions):
            return
        tx.exclusive_reported = True
        table = display(tx.exclusive_table)
        yield Violation(
            f"this statement runs while the transaction still holds an ACCESS EXCLUSIVE lock on "
            f"{table}: all queries on {table} stay blocked until COMMIT, however long this takes.",
            f"COMMIT right after the statement that locks {table}, and run this one in its own "
            "transaction.",
        )
