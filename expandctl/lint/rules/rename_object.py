"""C206 rename-object."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Rename
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import compat_exempt, contract_note, display
from expandctl.lint.source import Statement

_KINDS = frozenset(
    {
        "view", "materialized view", "function", "procedure", "routine", "type", "domain",
        "schema", "sequence", "enum value", "type attribute",
    }
)  # fmt: skip


class RenameObjectRule(Rule):
    """Renaming a view, function, type, schema, sequence or enum value.

    Lock or breakage: the old name stops working at once; queries, function
    calls, casts and enum literals of the still-running application version
    fail. A renamed enum value makes old code's inserts of the old label fail.

    Safe alternative: create the object under the new name beside the old
    one (for an enum, add the new value), move the code over, and drop the
    old one in contract, declared in ``retires``.

    Bad:
        ALTER VIEW active_users RENAME TO recent_users;

    Good:
        CREATE VIEW recent_users AS SELECT * FROM users;
    """

    id = "C206"
    name = "rename-object"
    group = "compatibility"
    actions = (Rename,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Rename)
        if action.kind not in _KINDS or compat_exempt(ctx, action.kind, action.name):
            return
        old = display(action.name)
        yield Violation(
            f"renaming {action.kind} {old} to {action.new_name} breaks the still-running "
            f"application version wherever it uses the old name."
            + contract_note(ctx, f"{action.kind.split()[0]}:{old}"),
            f"create {action.new_name} beside {old}, move the code to it, and drop {old} in "
            "contract, declared in retires.",
        )
