"""L103 reindex-non-concurrently."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Reindex
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class ReindexNonConcurrently(Rule):
    """``REINDEX`` without ``CONCURRENTLY``.

    Lock or breakage: REINDEX locks out writes to the table (SHARE lock) and
    takes an ACCESS EXCLUSIVE lock on each index being rebuilt, so queries
    that would use the index block too, for the whole rebuild.

    Safe alternative: ``REINDEX ... CONCURRENTLY`` (PostgreSQL 12+), outside
    a transaction block. On older versions build a new index concurrently
    and drop the old one concurrently.

    Bad:
        REINDEX INDEX users_email_idx;

    Good:
        REINDEX INDEX CONCURRENTLY users_email_idx;
    """

    id = "L103"
    name = "reindex-non-concurrently"
    group = "locking"
    actions = (Reindex,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Reindex)
        if action.concurrently:
            return
        kind, _, name = action.target.partition(" ")
        if ctx.pg_version >= 12:
            fix = f"REINDEX {kind.upper()} CONCURRENTLY {name}; outside a transaction block."
        else:
            fix = (
                f"PostgreSQL {ctx.pg_version} has no REINDEX CONCURRENTLY: create a replacement "
                "index with CREATE INDEX CONCURRENTLY, then DROP INDEX CONCURRENTLY the old one."
            )
        yield Violation(
            f"REINDEX {action.target} blocks writes to the table and queries using the index "
            "for the whole rebuild.",
            fix,
        )
