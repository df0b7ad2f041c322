"""S604 prefer-bigint-primary-key."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, CreateTable, display
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement

_SMALL = {
    "INT",
    "INTEGER",
    "INT4",
    "SMALLINT",
    "INT2",
    "SERIAL",
    "SERIAL4",
    "SMALLSERIAL",
    "SERIAL2",
}


class PreferBigintPrimaryKey(Rule):
    """An ``int`` / ``serial`` primary key instead of ``bigint``.

    Lock or breakage: none now; later: a busy table exhausts 2^31 ids, and
    widening the key (and every foreign key to it) rewrites the tables
    under an ACCESS EXCLUSIVE lock.

    Safe alternative: ``bigint GENERATED ALWAYS AS IDENTITY``.

    Bad:
        CREATE TABLE orders (id serial PRIMARY KEY);

    Good:
        CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
    """

    id = "S604"
    name = "prefer-bigint-primary-key"
    group = "style"
    severity = "warning"
    actions = (CreateTable,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, CreateTable)
        for column in action.columns:
            if (
                column.name in action.primary_key_columns
                and column.type_words[:1]
                and (column.type_words[0] in _SMALL)
            ):
                table = display(action.table or "")
                yield Violation(
                    f"{table}.{column.name} is a {column.type_text} primary key: it runs out at "
                    "2^31, and widening it later rewrites the table.",
                    f"declare {column.name} bigint GENERATED ALWAYS AS IDENTITY.",
                )
