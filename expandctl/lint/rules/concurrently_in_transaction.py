"""T401 concurrently-in-transaction."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, EnumAddValue
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement
from expandctl.model.sql_steps import needs_autocommit


class ConcurrentlyInTransaction(Rule):
    """``CONCURRENTLY`` (or another statement that must run alone) in a transaction block.

    Lock or breakage: PostgreSQL refuses some statements inside a transaction
    block, and the migration fails there: ``CREATE/DROP INDEX CONCURRENTLY``,
    ``REINDEX CONCURRENTLY``, ``DETACH PARTITION CONCURRENTLY``, ``VACUUM``,
    ``CLUSTER`` without a table, ``REINDEX SCHEMA|DATABASE|SYSTEM``,
    ``CREATE``/``DROP DATABASE``, ``ALTER DATABASE ... SET TABLESPACE``,
    ``CREATE``/``DROP TABLESPACE`` and ``ALTER SYSTEM``. It is the list
    ``advance`` runs alone by (``model.planning.needs_autocommit``); enum
    ``ADD VALUE`` before PostgreSQL 12 is L113's. Nor inside a ``DO`` block (a function call), whose
    statements the linter reads.

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

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if _in_do_block(statement):
            if getattr(action, "concurrently", False):
                yield Violation(
                    "CONCURRENTLY inside a DO block cannot run: a DO block is a function call, "
                    "always inside a transaction, so PostgreSQL rejects it and the migration "
                    "stops.",
                    "write the statement out as plain SQL, outside BEGIN/COMMIT, and make it "
                    "re-runnable with IF NOT EXISTS / IF EXISTS.",
                )
            return
        if not ctx.in_transaction or action is not statement.actions[0]:
            return
        if isinstance(action, EnumAddValue):
            return  # L113 says it, with the version
        if not needs_autocommit(statement.sql.text, server_version=ctx.pg_version):
            return
        first = " ".join(statement.sql.text.split()[:3])
        yield Violation(
            f"{first} ... cannot run inside a transaction block: PostgreSQL "
            "rejects it and the migration stops here.",
            "move it out of BEGIN/COMMIT and make it re-runnable with IF NOT EXISTS / IF EXISTS "
            "where it has them.",
        )


def _in_do_block(statement: Statement) -> bool:
    """The action was read from a DO block's body (``do_block.read_do_block``)."""
    words = statement.sql.text.split(None, 1)
    return bool(words) and words[0].upper() == "DO"
