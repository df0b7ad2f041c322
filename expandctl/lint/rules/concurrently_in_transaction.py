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
    Nor inside a ``DO`` block (a function call), whose statements the
    linter reads.

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
        if not getattr(action, "concurrently", False):
            return
        if _in_do_block(statement):
            yield Violation(
                "CONCURRENTLY inside a DO block cannot run: a DO block is a function call, "
                "always inside a transaction, so PostgreSQL rejects it and the migration stops.",
                "write the statement out as plain SQL, outside BEGIN/COMMIT, and make it "
                "re-runnable with IF NOT EXISTS / IF EXISTS.",
            )
            return
        if not ctx.in_transaction:
            return
        first = " ".join(statement.sql.text.split()[:3])
        yield Violation(
            f"{first} ... CONCURRENTLY cannot run inside a transaction block: PostgreSQL "
            "rejects it and the migration stops here.",
            "move it out of BEGIN/COMMIT and make it re-runnable with IF NOT EXISTS / IF EXISTS.",
        )


def _in_do_block(statement: Statement) -> bool:
    """The action was read from a DO block's body (``do_block.read_do_block``)."""
    words = statement.sql.text.split(None, 1)
    return bool(words) and words[0].upper() == "DO"
