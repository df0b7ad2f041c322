"""U501 unverifiable-statement."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Unknown
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class UnverifiableStatement(Rule):
    """A statement the linter cannot read, so it cannot vouch for it.

    Lock or breakage: unknown. sqlglot could not parse the statement (or only
    as an opaque command) and the keyword reader does not know its form, so
    none of the other rules could check it. It is reported, never silently
    passed. Warning by default; ``--fail-on warning`` or
    ``severity = {U501 = "error"}`` makes it block.

    Safe alternative: check the statement by hand, then suppress this
    finding with a reason: ``-- expandctl-ignore: U501 <why it is safe>``.
    If it is ordinary PostgreSQL, please report it so the reader learns it.

    Bad:
        ALTER DOMAIN positive_int ADD CONSTRAINT positive CHECK (VALUE > 0);

    Good:
        CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
    """

    id = "U501"
    name = "unverifiable-statement"
    group = "unverifiable"
    severity = "warning"
    actions = (Unknown,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Unknown)
        yield Violation(
            f"the linter cannot verify this statement ({action.reason}): its locks and "
            "compatibility are unchecked.",
            "review it by hand, then suppress with '-- expandctl-ignore: U501 <why it is safe>'.",
        )
