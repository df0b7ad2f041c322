"""C205 rename-table."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Rename
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import compat_exempt, contract_note, display
from expandctl.lint.source import Statement


class RenameTableRule(Rule):
    """Renaming a table: the old name disappears at once.

    Lock or breakage: every query of the still-running application version
    that uses the old table name fails from the moment the rename commits.

    Safe alternative: rename the table and create a view with the old name
    in the same transaction (a simple view is updatable), switch the code to
    the new name, and drop the view in contract (``retires =
    ["view:old_name"]``).

    Bad:
        ALTER TABLE users RENAME TO accounts;

    Good:
        CREATE TABLE accounts (id bigint PRIMARY KEY);
    """

    id = "C205"
    name = "rename-table"
    group = "compatibility"
    actions = (Rename,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Rename)
        if action.kind != "table" or compat_exempt(ctx, "table", action.name):
            return
        old = display(action.name)
        new = action.new_name
        yield Violation(
            f"renaming table {old} to {new} breaks every query of the still-running "
            f"application version that uses {old}." + contract_note(ctx, old),
            f"BEGIN; ALTER TABLE {old} RENAME TO {new}; CREATE VIEW {old} AS SELECT * FROM "  # noqa: S608
            f"{new}; COMMIT; then move the code to {new} and drop the view {old} in contract "
            f'(retires = ["view:{old}"]).',
        )
