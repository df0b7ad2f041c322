"""The rule interface: one small class per hazard, its docstring is its documentation.

A rule declares its id, name, group, default severity, the phases it applies
to and the action types it looks at; ``check`` yields ``Violation``s for one
action. The docstring has four sections, rendered into ``docs/rules.md``:
the hazard (first paragraph), ``Lock or breakage:``, ``Safe alternative:``,
and ``Bad:`` / ``Good:`` SQL examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from expandctl.lint.actions import Action
from expandctl.lint.context import LintContext
from expandctl.lint.records import Severity
from expandctl.model.phases import PHASES, Phase

if TYPE_CHECKING:
    from expandctl.lint.source import Statement

ALL_PHASES: frozenset[Phase] = frozenset(PHASES)

GROUPS: dict[str, str] = {
    "locking": "strong locks and rewrites that stall traffic",
    "compatibility": "changes that break the application version still running",
    "data-loss": "statements that destroy rows or objects",
    "transactions": "transaction blocks that cannot work or hold locks too long",
    "input": "files PostgreSQL cannot run as written: syntax errors, templates, psql commands",
    "unverifiable": "SQL the linter cannot read, reported instead of passed",
    "style": "schema choices that cause trouble later (opt-in)",
    "suppressions": "problems with expandctl-ignore comments",
}
DEFAULT_GROUPS = frozenset(GROUPS) - {"style"}


@dataclass(frozen=True, slots=True)
class Violation:
    message: str  # what goes wrong: which lock, what it blocks, what breaks
    fix: str  # the safe way, with the real names filled in
    at: tuple[int, int] | None = None  # (line, column) when not the statement's start


class Rule:
    id: ClassVar[str]
    name: ClassVar[str]
    group: ClassVar[str]
    severity: ClassVar[Severity] = "error"
    phases: ClassVar[frozenset[Phase]] = ALL_PHASES
    actions: ClassVar[tuple[type[Action], ...]] = ()  # () = every action
    rollback: ClassVar[bool] = True  # also applies to *.down.sql files
    # How the docstring's examples are linted: Bad as expand, without retires;
    # Good in example_phase with example_retires declared (docs and the contract test).
    example_phase: ClassVar[Phase] = Phase.EXPAND
    example_pg_version: ClassVar[int] = 15
    example_retires: ClassVar[tuple[str, ...]] = ()
    example_managed: ClassVar[bool] = False  # lint the examples as a migration phase file

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterable[Violation]:
        return ()

    def finish(self, ctx: LintContext) -> Iterator[tuple[Statement, Violation]]:
        """Called once at the end of a file (for 'left a transaction open')."""
        return iter(())

    @classmethod
    def applies(cls, phase: Phase, rollback: bool) -> bool:
        """Whether the rule runs on a file of ``phase`` (a ``.down.sql`` one when
        ``rollback``); only these two decide it (the registry remembers the answer)."""
        return phase in cls.phases and (cls.rollback or not rollback)
