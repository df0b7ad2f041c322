"""L102 drop-index-non-concurrently."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, DropObjects
from expandctl.lint.context import LintContext, norm
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display, listed
from expandctl.lint.source import Statement


class DropIndexNonConcurrently(Rule):
    """Dropping an index without ``CONCURRENTLY``.

    Lock or breakage: ``DROP INDEX`` takes an ACCESS EXCLUSIVE lock on the
    index's table. While it waits for running queries to finish, every new
    query on the table (reads too) queues behind it.

    Safe alternative: ``DROP INDEX CONCURRENTLY``, outside a transaction
    block (one index per statement). An index created earlier in the same
    file may be dropped directly; a rollback file should drop the index its
    forward file built concurrently too, as it has served traffic since.

    Bad:
        DROP INDEX users_email_idx;

    Good:
        DROP INDEX CONCURRENTLY users_email_idx;
    """

    id = "L102"
    name = "drop-index-non-concurrently"
    group = "locking"
    actions = (DropObjects,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, DropObjects)
        if action.kind != "index" or action.concurrently:
            return
        # Only an index built in this very file is still unused; one a forward file
        # built has served traffic since, and dropping it locks its table all the same.
        names = [n for n in action.names if ("index", norm(n)) not in ctx.file_created]
        if not names:
            return
        yield Violation(
            f"DROP INDEX {listed(names)} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on "
            "the index's table: every query on it, reads included, waits behind the drop.",
            " ".join(f"DROP INDEX CONCURRENTLY IF EXISTS {display(n)};" for n in names)
            + " (outside a transaction block, one index per statement)",
        )
