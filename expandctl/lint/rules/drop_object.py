"""C203 drop-object."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, DropObjects
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import contract_note, retire_fix, still_used
from expandctl.lint.source import Statement
from expandctl.model.phases import Phase

_KINDS = {
    "view": "view", "materialized view": "view", "function": "function",
    "procedure": "function", "routine": "function", "aggregate": "function", "type": "type",
    "domain": "type", "schema": "schema", "sequence": "sequence",
}  # fmt: skip


class DropObjectRule(Rule):
    """Dropping a view, function, type, schema or sequence the application may still use.

    Lock or breakage: queries of the still-running application version that
    reference the object fail; a dropped type or sequence can also break
    defaults and columns that use it.

    Safe alternative: stop using it in code, then drop it in contract and
    declare it in ``retires`` (e.g. ``"view:active_users"``,
    ``"function:touch_updated_at"``). A rollback file may drop what its
    forward file created.

    Bad:
        DROP VIEW active_users;

    Good:
        -- contract.sql, with retires = ["view:active_users"] in migration.toml
        DROP VIEW active_users;
    """

    id = "C203"
    name = "drop-object"
    group = "compatibility"
    example_phase = Phase.CONTRACT
    example_retires = ("view:active_users",)
    actions = (DropObjects,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, DropObjects)
        kind = _KINDS.get(action.kind)
        if kind is None:
            return
        for name in still_used(ctx, action.kind, action.names):
            entry = f"{kind}:{name}"
            yield Violation(
                f"dropping {action.kind} {name} breaks the still-running application version "
                f"wherever it uses {name}." + contract_note(ctx, entry),
                retire_fix(name, entry),
            )
