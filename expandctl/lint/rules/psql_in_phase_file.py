"""I704 psql-in-phase-file."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Harmless
from expandctl.lint.context import LintContext
from expandctl.lint.input_actions import PsqlMetaCommand
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement
from expandctl.model.sql_split import is_copy_from_stdin


class PsqlInPhaseFile(Rule):
    """A psql meta-command or ``COPY … FROM stdin`` in a migration's phase file.

    Lock or breakage: ``advance`` runs a phase file's statements itself,
    not through psql. It refuses to plan a file with psql commands
    (``\\set``, ``\\connect``, ``\\i`` …): sent to the server they are
    syntax errors, and skipping them would run the statements in the wrong
    database or without the included file. ``COPY … FROM stdin`` has no
    one to feed it its rows.

    Safe alternative: write plain SQL: drop ``\\set ON_ERROR_STOP`` (a
    failing statement always stops the phase), inline what ``\\i``
    included, and load rows with ``INSERT`` or a backfill.

    Bad:
        \\set ON_ERROR_STOP on
        ALTER TABLE users ADD COLUMN nickname text;

    Good:
        ALTER TABLE users ADD COLUMN nickname text;
    """

    id = "I704"
    name = "psql-in-phase-file"
    group = "input"
    actions = (PsqlMetaCommand, Harmless)
    example_managed = True

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if not ctx.managed_transactions:
            return
        if isinstance(action, PsqlMetaCommand):
            yield Violation(
                f"psql meta-command '{action.text}' in a phase file: advance runs the SQL "
                "itself, not through psql, and refuses to plan this file.",
                "remove it and write plain SQL statements.",
            )
        elif isinstance(action, Harmless) and _copy_from_stdin(action, statement):
            yield Violation(
                "COPY … FROM stdin in a phase file: advance has no rows to feed it and "
                "refuses to plan this file.",
                "load the rows with INSERT statements (or a backfill), not COPY … FROM stdin.",
            )


def _copy_from_stdin(action: Harmless, statement: Statement) -> bool:
    return action.what == "COPY" and is_copy_from_stdin(statement.sql.text)
