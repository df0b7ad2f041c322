"""C210 revoke-privileges."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Revoke
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement
from expandctl.model.phases import Phase


class RevokePrivileges(Rule):
    """Revoking privileges while the application may still need them.

    Lock or breakage: queries of the still-running application version that
    rely on the privilege fail with "permission denied" at once.

    Safe alternative: revoke in the contract phase, after the code that
    needed the privilege is gone.

    Bad:
        REVOKE UPDATE ON users FROM PUBLIC;

    Good:
        GRANT SELECT ON users TO PUBLIC;
    """

    id = "C210"
    name = "revoke-privileges"
    group = "compatibility"
    actions = (Revoke,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Revoke)
        if ctx.phase is Phase.CONTRACT and not ctx.rollback:
            return
        yield Violation(
            f"{action.text} can make the still-running application version fail with "
            "'permission denied'.",
            "revoke in the contract phase, once no running code needs the privilege.",
        )
