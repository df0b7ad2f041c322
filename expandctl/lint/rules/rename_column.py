"""C204 rename-column."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Rename
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import compat_exempt, contract_note, display
from expandctl.lint.source import Statement


class RenameColumnRule(Rule):
    """Renaming a column: the old name disappears at once.

    Lock or breakage: every query of the still-running application version
    that uses the old name fails the moment the rename commits — there is no
    moment where both names work.

    Safe alternative: expand-and-contract: add a column with the new name,
    keep both in sync with a trigger, backfill, switch reads and writes to
    the new column, and drop the old one in contract (declared in
    ``retires``). For a read-only transition a view can expose both names.

    Bad:
        ALTER TABLE users RENAME COLUMN name TO full_name;

    Good:
        ALTER TABLE users ADD COLUMN full_name text;
    """

    id = "C204"
    name = "rename-column"
    group = "compatibility"
    actions = (Rename,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Rename)
        if action.kind != "column" or compat_exempt(ctx, "column", action.name):
            return
        table, _, old = display(action.name).rpartition(".")
        new = action.new_name
        yield Violation(
            f"renaming {table}.{old} to {new} breaks every query of the still-running "
            f"application version that uses {old}." + contract_note(ctx, f"{table}.{old}"),
            f"1. expand: ALTER TABLE {table} ADD COLUMN {new} <type>; plus a trigger keeping "
            f"{old} and {new} in sync;  2. backfill {new};  3. switch reads and writes to {new};"
            f"  4. contract: ALTER TABLE {table} DROP COLUMN {old}; with "
            f'retires = ["{table}.{old}"].',
        )
