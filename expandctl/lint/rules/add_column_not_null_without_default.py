"""C207 add-column-not-null-without-default."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class AddColumnNotNullWithoutDefault(Rule):
    """Adding a NOT NULL column without a default to an existing table.

    Lock or breakage: on a table with rows the statement fails outright;
    on an empty one it succeeds but every INSERT of the still-running
    application version (which does not know the column) fails with a
    not-null violation.

    Safe alternative: add the column nullable (or with a constant default),
    backfill it, add ``CHECK (col IS NOT NULL) NOT VALID`` and validate it,
    then ``SET NOT NULL`` once all code writes the column.

    Bad:
        ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;

    Good:
        ALTER TABLE users ADD COLUMN tenant_id bigint;
    """

    id = "C207"
    name = "add-column-not-null-without-default"
    group = "compatibility"
    actions = (AddColumn,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, AddColumn)
        col = action.column
        if not col.not_null or col.default is not None or col.serial or col.identity:
            return
        if col.generated_stored or ctx.is_new_table(action.table):
            return
        table = display(action.table or "")
        yield Violation(
            f"adding {table}.{col.name} NOT NULL without a default fails if {table} has rows, "
            f"and otherwise makes every INSERT of the still-running application version fail.",
            f"1. ALTER TABLE {table} ADD COLUMN {col.name} {col.type_text};  2. backfill it;  "
            f"3. ADD CONSTRAINT {table}_{col.name}_not_null CHECK ({col.name} IS NOT NULL) NOT "
            f"VALID, then VALIDATE it;  4. SET NOT NULL once every writer sets {col.name}.",
        )
