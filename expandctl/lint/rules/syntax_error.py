"""I701 syntax-error."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action
from expandctl.lint.context import LintContext
from expandctl.lint.input_actions import InvalidSyntax
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class SyntaxErrorRule(Rule):
    """A statement PostgreSQL itself cannot parse.

    Lock or breakage: the deploy stops at this statement (PostgreSQL answers
    ``syntax error``), after the statements before it ran. The check is
    PostgreSQL's own parser (libpg_query), and the message is PostgreSQL's;
    the finding points at where the parser stopped. Only syntax is checked:
    whether tables and columns exist is not.

    Safe alternative: correct the statement; run it against a scratch
    database when unsure. If the statement is valid on your target version
    but not on the checker's grammar, see ``syntax-unverified`` (U503).

    Bad:
        ALTER TABEL users ADD COLUMN nickname text;

    Good:
        ALTER TABLE users ADD COLUMN nickname text;
    """

    id = "I701"
    name = "syntax-error"
    group = "input"
    actions = (InvalidSyntax,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, InvalidSyntax)
        if action.uncertain:
            return
        yield Violation(
            f"PostgreSQL cannot parse this statement: {action.message} "
            f"(line {action.line}, column {action.column}).",
            "correct the statement; PostgreSQL would refuse it and stop the deploy here.",
            at=(action.line, action.column),
        )
