"""D303 drop-cascade."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, DropColumn, DropConstraint, DropObjects
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class DropCascade(Rule):
    """``DROP ... CASCADE``: it also drops objects nobody named.

    Lock or breakage: CASCADE silently removes every dependent object —
    views, foreign keys, defaults, triggers, even columns of other tables —
    that the migration never mentions and the review never saw.

    Safe alternative: drop the dependent objects explicitly first (each
    declared in ``retires`` in contract), then drop the object without
    CASCADE, so PostgreSQL refuses if anything was missed.

    Bad:
        DROP TABLE legacy_sessions CASCADE;

    Good:
        DROP VIEW legacy_session_stats;
        DROP TABLE legacy_sessions;
    """

    id = "D303"
    name = "drop-cascade"
    group = "data-loss"
    actions = (DropObjects, DropColumn, DropConstraint)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, DropObjects | DropColumn | DropConstraint)
        if not action.cascade:
            return
        if isinstance(action, DropObjects):
            what = f"{action.kind} {', '.join(display(n) for n in action.names)}"
        elif isinstance(action, DropColumn):
            what = f"column {display(action.table or '')}.{action.column}"
        else:
            what = f"constraint {action.name}"
        yield Violation(
            f"DROP {what} CASCADE also drops every object that depends on it, none of which "
            "this migration names.",
            f"drop the dependent objects explicitly, then drop {what} without CASCADE so "
            "PostgreSQL refuses if something was missed.",
        )
