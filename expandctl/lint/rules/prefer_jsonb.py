"""S601 prefer-jsonb."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn, CreateTable
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._style import declared_columns
from expandctl.lint.source import Statement


class PreferJsonb(Rule):
    """A ``json`` column instead of ``jsonb``.

    Lock or breakage: none now; later: ``json`` keeps the raw text, cannot be
    indexed with GIN and has no equality operator, and changing the type
    afterwards rewrites the table.

    Safe alternative: declare ``jsonb``.

    Bad:
        CREATE TABLE events (payload json);

    Good:
        CREATE TABLE events (payload jsonb);
    """

    id = "S601"
    name = "prefer-jsonb"
    group = "style"
    severity = "warning"
    actions = (CreateTable, AddColumn)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for table, column in declared_columns(action):
            if column.type_words[:1] == ("JSON",):
                yield Violation(
                    f"{table}.{column.name} is json: no GIN index, no equality, reparsed on "
                    "every access.",
                    f"declare {column.name} jsonb.",
                )
