"""S602 prefer-text."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn, CreateTable
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._style import declared_columns
from expandctl.lint.source import Statement

_BOUNDED = {"VARCHAR", "CHAR", "CHARACTER", "NCHAR", "BPCHAR"}


class PreferText(Rule):
    """``varchar(n)`` or ``char(n)`` instead of ``text``.

    Lock or breakage: none now; later: raising the limit is an ALTER TYPE
    under an ACCESS EXCLUSIVE lock, and ``char(n)`` pads with spaces. The
    length limit is no faster than ``text``.

    Safe alternative: ``text``, with a ``CHECK (length(col) <= n)`` if a
    limit is a business rule (a CHECK can be changed NOT VALID).

    Bad:
        CREATE TABLE users (email varchar(255));

    Good:
        CREATE TABLE users (email text CHECK (length(email) <= 255));
    """

    id = "S602"
    name = "prefer-text"
    group = "style"
    severity = "warning"
    actions = (CreateTable, AddColumn)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for table, column in declared_columns(action):
            words = column.type_words
            if words and words[0] in _BOUNDED and (column.type_has_length or words[0] != "VARCHAR"):
                yield Violation(
                    f"{table}.{column.name} is {column.type_text}: changing the limit later "
                    "locks the table, and char(n) pads with spaces.",
                    f"declare {column.name} text, with CHECK (length({column.name}) <= n) if the "
                    "limit matters.",
                )
