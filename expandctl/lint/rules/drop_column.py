"""C201 drop-column."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, DropColumn
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import compat_exempt, contract_note, display, retire_fix
from expandctl.lint.source import Statement
from expandctl.model.phases import Phase


class DropColumnRule(Rule):
    """Dropping a column that the running application may still use.

    Lock or breakage: until contract, the previous application version is
    still running and may SELECT, INSERT or UPDATE the column by name; the
    moment it is gone those queries fail (and ``SELECT *`` results change).

    Safe alternative: stop using the column in code first; drop it in the
    contract phase and declare it in the manifest's ``retires`` (contract
    refuses drops that are not declared). A rollback file may drop what its
    own forward file added.

    Bad:
        ALTER TABLE users DROP COLUMN name;

    Good:
        -- contract.sql, with retires = ["users.name"] in migration.toml
        ALTER TABLE users DROP COLUMN name;
    """

    id = "C201"
    name = "drop-column"
    group = "compatibility"
    example_phase = Phase.CONTRACT
    example_retires = ("users.name",)
    actions = (DropColumn,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, DropColumn)
        table = display(action.table or "")
        qualified = f"{table}.{action.column}"
        if compat_exempt(ctx, "column", qualified):
            return
        yield Violation(
            f"dropping {qualified} breaks every query of the still-running application version "
            f"that reads or writes {action.column}." + contract_note(ctx, qualified),
            retire_fix(qualified, qualified),
        )
