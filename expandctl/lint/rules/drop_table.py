"""C202 drop-table."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, DropObjects
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import contract_note, retire_fix, still_used
from expandctl.lint.source import Statement
from expandctl.model.phases import Phase


class DropTableRule(Rule):
    """Dropping a table that the running application may still use.

    Lock or breakage: every query of the previous application version that
    touches the table fails from that moment; the drop also waits for an
    ACCESS EXCLUSIVE lock, queueing queries behind it.

    Safe alternative: stop using the table in code, then drop it in contract
    with the table listed in the manifest's ``retires``. A rollback file may
    drop the table its forward file created.

    Bad:
        DROP TABLE legacy_sessions;

    Good:
        -- contract.sql, with retires = ["legacy_sessions"] in migration.toml
        DROP TABLE legacy_sessions;
    """

    id = "C202"
    name = "drop-table"
    group = "compatibility"
    example_phase = Phase.CONTRACT
    example_retires = ("legacy_sessions",)
    actions = (DropObjects,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, DropObjects)
        if action.kind not in ("table", "foreign table"):
            return
        for name in still_used(ctx, "table", action.names):
            yield Violation(
                f"dropping table {name} breaks every query of the still-running application "
                f"version that uses it." + contract_note(ctx, name),
                retire_fix(name, name),
            )
