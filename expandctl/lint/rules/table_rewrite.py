"""L109 table-rewrite."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Rewrite
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement

_ADVICE = {
    "VACUUM FULL": "use pg_repack or pg_squeeze, which rebuild the table online; plain VACUUM "
    "(without FULL) reclaims space for reuse without the lock",
    "CLUSTER": "use pg_repack --order-by, which reorders the table online",
    "SET TABLESPACE": "create a new table in the target tablespace and move data in batches, "
    "or use pg_repack --tablespace",
    "SET LOGGED": "create the table LOGGED from the start; switching rewrites it",
    "SET UNLOGGED": "create the table UNLOGGED from the start; switching rewrites it",
    "SET ACCESS METHOD": "create a new table with the access method and move data in batches",
}


class TableRewrite(Rule):
    """VACUUM FULL, CLUSTER, SET TABLESPACE, SET LOGGED / UNLOGGED: a full rewrite under lock.

    Lock or breakage: each of these copies the whole table (and rebuilds its
    indexes) while holding an ACCESS EXCLUSIVE lock: no query can read or
    write the table until the copy is done.

    Safe alternative: online tools such as pg_repack or pg_squeeze, or a new
    table filled in batches; never in a migration running under traffic.

    Bad:
        VACUUM FULL users;

    Good:
        VACUUM users;
    """

    id = "L109"
    name = "table-rewrite"
    group = "locking"
    actions = (Rewrite,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Rewrite)
        if action.table is not None and ctx.is_new_table(action.table):
            return
        target = display(action.table) if action.table else "every table it touches"
        yield Violation(
            f"{action.how} rewrites {target} under an ACCESS EXCLUSIVE lock: nothing can read "
            "or write it until the copy is done.",
            _ADVICE.get(action.how, "rebuild the table online (pg_repack)") + ".",
        )
