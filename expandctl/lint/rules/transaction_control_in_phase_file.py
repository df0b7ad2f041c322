"""T404 transaction-control-in-phase-file."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Begin, EndTransaction, Harmless
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement

_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK TO SAVEPOINT")


class TransactionControlInPhaseFile(Rule):
    """BEGIN, COMMIT, ROLLBACK or SAVEPOINT in a migration's phase file.

    Lock or breakage: ``advance`` runs phase files itself: it groups
    consecutive statements into one transaction together with the recorded
    state, and runs CONCURRENTLY statements alone. Transaction control in the
    file would break that bookkeeping, so planning the phase refuses the file
    and the deploy stops. (Plain SQL files may use BEGIN/COMMIT.)

    Safe alternative: remove it. Statements that cannot run in a transaction
    block run on their own automatically; to release a strong lock early, put
    the statement that takes it last in the file, or in a later phase.

    Bad:
        BEGIN;
        ALTER TABLE users ADD COLUMN nickname text;
        COMMIT;

    Good:
        ALTER TABLE users ADD COLUMN nickname text;
    """

    id = "T404"
    name = "transaction-control-in-phase-file"
    group = "transactions"
    actions = (Begin, EndTransaction, Harmless)
    example_managed = True

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if not ctx.managed_transactions:
            return
        if isinstance(action, Harmless) and action.what not in _CONTROL:
            return
        word = statement.sql.text.split(None, 1)[0].upper()
        yield Violation(
            f"{word} in a phase file: advance groups the statements into transactions itself "
            "and refuses to plan a phase file with transaction control.",
            f"remove the {word}; CONCURRENTLY statements already run on their own.",
        )
