"""T401 concurrently-in-transaction."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, CreateIndex, DropObjects, Partition, Reindex
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class ConcurrentlyInTransaction(Rule):
    """``CONCURRENTLY`` inside an explicit transaction block.

    Lock or breakage: ``CREATE/DROP INDEX CONCURRENTLY``, ``REINDEX
    CONCURRENTLY`` and ``DETACH PARTITION CONCURRENTLY`` cannot run inside a
    transaction block: PostgreSQL rejects them and the migration fails there.

    Safe alternative: run the statement outside BEGIN/COMMIT (expandctl runs
    such statements in autocommit) and make it re-runnable with
    ``IF NOT EXISTS`` / ``IF EXISTS``.

    Bad:
        BEGIN;
        CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
        COMMIT;

    Good:
        CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);
    """

    id = "T401"
    name = "concurrently-in-transaction"
    group = "transactions"
    actions = (CreateIndex, DropObjects, Reindex, Partition)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if not ctx.in_transaction or not getattr(action, "concurrently", False):
            return
        first = " ".join(statement.sql.text.split()[:3])
        yield Violation(
            f"{first} ... CONCURRENTLY cannot run inside a transaction block: PostgreSQL "
            "rejects it and the migration stops here.",
            "move it out of BEGIN/COMMIT and make it re-runnable with IF NOT EXISTS / IF EXISTS.",
        )
