"""S603 prefer-timestamptz."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn, CreateTable
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._style import declared_columns
from expandctl.lint.source import Statement


class PreferTimestamptz(Rule):
    """``timestamp`` (without time zone) instead of ``timestamptz``.

    Lock or breakage: none now; later: the value means a different instant
    depending on each client's TimeZone setting, and converting the column
    afterwards rewrites the table.

    Safe alternative: ``timestamptz``, which stores an instant.

    Bad:
        CREATE TABLE events (created_at timestamp);

    Good:
        CREATE TABLE events (created_at timestamptz);
    """

    id = "S603"
    name = "prefer-timestamptz"
    group = "style"
    severity = "warning"
    actions = (CreateTable, AddColumn)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for table, column in declared_columns(action):
            words = column.type_words
            if (words[:1] == ("TIMESTAMP",) and "ZONE" not in words) or (
                "ZONE" in words and "WITHOUT" in words
            ):
                yield Violation(
                    f"{table}.{column.name} is {column.type_text} without time zone: its meaning "
                    "depends on each client's TimeZone.",
                    f"declare {column.name} timestamptz.",
                )
