"""I703 psql-meta-command."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action
from expandctl.lint.context import LintContext
from expandctl.lint.input_actions import CopyDataRows, PsqlMetaCommand
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement

_INCLUDES = frozenset({"i", "ir", "include", "include_relative"})


class PsqlMetaCommandNote(Rule):
    """A psql meta-command or ``COPY … FROM stdin`` data in a plain SQL file: skipped, noted.

    Lock or breakage: none by itself. A psql script is read as psql reads
    it: a line from a backslash on (``\\set``, ``\\connect``, ``\\i``,
    ``\\gset``) is a psql command, not part of a statement, and the data
    rows after ``COPY … FROM stdin;`` up to ``\\.`` are data. Both are
    skipped, and the statements around them are linted. An info note, so
    nothing is skipped silently: an included file (``\\i``) is not linted
    here. In a migration's phase file this is ``psql-in-phase-file``
    (I704), an error.

    Safe alternative: nothing to do; lint included files too, or turn the
    note off with ``ignore = ["I703"]``.

    Bad:
        \\connect app
        CREATE TABLE audit_log (id bigint PRIMARY KEY);

    Good:
        CREATE TABLE audit_log (id bigint PRIMARY KEY);
    """

    id = "I703"
    name = "psql-meta-command"
    group = "input"
    severity = "info"
    actions = (PsqlMetaCommand, CopyDataRows)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if ctx.managed_transactions:
            return  # a phase file: I704 says it is an error
        if isinstance(action, CopyDataRows):
            yield Violation(
                f"COPY data: {action.rows} row(s) up to line {action.end_line} skipped "
                "(psql sends them to COPY … FROM stdin; they are not statements).",
                "nothing to do.",
            )
            return
        assert isinstance(action, PsqlMetaCommand)
        if action.name in _INCLUDES:
            what = "the included file is not linted here: lint it too"
        else:
            what = "it is not SQL; the statements around it are linted"
        yield Violation(f"psql meta-command '{action.text}' skipped: {what}.", "nothing to do.")
