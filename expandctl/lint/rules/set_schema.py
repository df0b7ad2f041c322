"""C211 set-schema."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, SetSchema
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import compat_exempt, contract_note, display
from expandctl.lint.source import Statement


class SetSchemaRule(Rule):
    """Moving an object to another schema with ``SET SCHEMA``.

    Lock or breakage: the object disappears from its old schema at once;
    qualified names and search_path lookups of the still-running application
    version stop finding it.

    Safe alternative: create the object in the new schema (or a view there),
    move the code, and drop the old one in contract, declared in ``retires``.

    Bad:
        ALTER TABLE users SET SCHEMA accounts;

    Good:
        CREATE VIEW accounts.users AS SELECT * FROM public.users;
    """

    id = "C211"
    name = "set-schema"
    group = "compatibility"
    actions = (SetSchema,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, SetSchema)
        if compat_exempt(ctx, action.kind, action.name):
            return
        name = display(action.name)
        yield Violation(
            f"moving {action.kind} {name} to schema {action.schema} makes it vanish from where "
            "the still-running application version looks for it." + contract_note(ctx, name),
            f"create a view (or the object) in {action.schema}, move the code to it, and retire "
            f"{name} in contract.",
        )
