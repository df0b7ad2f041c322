"""L101 create-index-non-concurrently."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, CreateIndex
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class CreateIndexNonConcurrently(Rule):
    """Building an index on an existing table without ``CONCURRENTLY``.

    Lock or breakage: ``CREATE INDEX`` holds a SHARE lock on the table for the
    whole build, which can take minutes on a big table: every INSERT, UPDATE
    and DELETE waits (reads continue).

    Safe alternative: ``CREATE INDEX CONCURRENTLY``, outside a transaction
    block. It takes longer but lets writes through. If it fails it leaves an
    INVALID index behind: drop it with ``DROP INDEX CONCURRENTLY`` and retry.
    Indexes on tables (and materialized views) created earlier in the same
    file or migration are fine; a table merely renamed there is not new.

    Bad:
        CREATE INDEX users_email_idx ON users (email);

    Good:
        CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
    """

    id = "L101"
    name = "create-index-non-concurrently"
    group = "locking"
    actions = (CreateIndex,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, CreateIndex)
        if action.concurrently or ctx.is_new_table(action.table):
            return
        table = display(action.table or "")
        unique = "UNIQUE " if action.unique else ""
        name = f"{action.name} " if action.name else ""
        yield Violation(
            f"CREATE {unique}INDEX {name}without CONCURRENTLY holds a SHARE lock on {table} "
            f"for the whole index build: every INSERT, UPDATE and DELETE on {table} waits "
            "until it finishes.",
            f"CREATE {unique}INDEX CONCURRENTLY {name}ON {table} ({action.columns_text}); "
            "run it outside a transaction block; if it fails, drop the INVALID index with "
            "DROP INDEX CONCURRENTLY and run it again.",
        )
