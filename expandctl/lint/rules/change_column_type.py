"""C208 change-column-type."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AlterColumnType
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import compat_exempt, display
from expandctl.lint.source import Statement


class ChangeColumnType(Rule):
    """Changing the type of an existing column under the running application.

    Lock or breakage: the still-running application version reads and writes
    the old type: values may no longer parse (text to integer), get
    truncated, or compare differently, and drivers that cached the type
    (prepared statements) fail with "cached plan must not change result type".

    Safe alternative: add a new column with the new type, keep it in sync
    and backfill it, switch reads and writes, and drop the old column in
    contract (declared in ``retires``).

    Bad:
        ALTER TABLE users ALTER COLUMN age TYPE text;

    Good:
        ALTER TABLE users ADD COLUMN age_text text;
    """

    id = "C208"
    name = "change-column-type"
    group = "compatibility"
    actions = (AlterColumnType,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, AlterColumnType)
        table = display(action.table or "")
        qualified = f"{table}.{action.column}"
        if compat_exempt(ctx, "column", qualified):
            return
        yield Violation(
            f"changing the type of {qualified} to {action.type_text} under the still-running "
            "application version can break its reads and writes and its prepared statements.",
            f"add {table}.{action.column}_new {action.type_text}, sync and backfill it, switch "
            f"the code to it, and drop {action.column} in contract with "
            f'retires = ["{qualified}"].',
        )
