"""U503 syntax-unverified."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action
from expandctl.lint.context import LintContext
from expandctl.lint.input_actions import InvalidSyntax
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class SyntaxUnverified(Rule):
    """A statement the syntax checker rejects that the target version may accept.

    Lock or breakage: unknown. The syntax check uses the grammar of one
    PostgreSQL major version (libpg_query's). A statement that grammar
    rejects is only *possibly* an error when the target version
    (``pg_version``) differs: syntax removed since then (``WITH OIDS`` up to
    PostgreSQL 11, postfix operators up to 13), or, for a target newer than
    the checker, new syntax the reader understood. Warning by default.

    Safe alternative: check the statement against a server of the target
    version, then suppress with a reason:
    ``-- expandctl-ignore: U503 <why it is valid>``.

    Bad:
        CREATE TABLE legacy (id int) WITH OIDS;

    Good:
        CREATE TABLE legacy (id int);
    """

    id = "U503"
    name = "syntax-unverified"
    group = "unverifiable"
    severity = "warning"
    actions = (InvalidSyntax,)
    example_pg_version = 11

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, InvalidSyntax)
        if not action.uncertain:
            return
        yield Violation(
            f"PostgreSQL {action.grammar}'s grammar rejects this statement ({action.message}, "
            f"line {action.line}, column {action.column}), but {action.uncertain}.",
            f"check it on PostgreSQL {ctx.pg_version}, then suppress with "
            "'-- expandctl-ignore: U503 <why it is valid>'.",
            at=(action.line, action.column),
        )
