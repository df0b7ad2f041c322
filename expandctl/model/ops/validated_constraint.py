"""Constraints added NOT VALID, then validated apart: the steps, and operations built on them.

``ADD CONSTRAINT ... NOT VALID`` holds its lock only briefly and checks new
writes at once; ``VALIDATE CONSTRAINT`` scans the existing rows later, in a
transaction of its own, under a lock that lets reads and writes through.
add_check, add_foreign_key, the NOT NULL helper checks and the foreign keys
column_sync carries over all go this way, so the statements live here once.
"""

from __future__ import annotations

from expandctl.model.ops.base import PlanContext, TableOperation, check_steps, sql
from expandctl.model.phases import Phase
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


def add_not_valid(op: TableOperation, ctx: PlanContext, name: str, definition: str) -> Step:
    """``ADD CONSTRAINT name definition NOT VALID`` (``definition``: ``CHECK (...)``, ...)."""
    return sql(
        op,
        ctx,
        f"ALTER TABLE {op.target} ADD CONSTRAINT {quote_ident(name)} {definition} NOT VALID",
    )


def validate(op: TableOperation, ctx: PlanContext, name: str) -> Step:
    # Its own transaction: validating scans the table under a weak lock only.
    return sql(
        op, ctx, f"ALTER TABLE {op.target} VALIDATE CONSTRAINT {quote_ident(name)}", autocommit=True
    )


def drop_constraint(op: TableOperation, ctx: PlanContext, name: str) -> Step:
    return sql(op, ctx, f"ALTER TABLE {op.target} DROP CONSTRAINT IF EXISTS {quote_ident(name)}")


class ValidatedConstraint(TableOperation):
    """A named constraint added NOT VALID in expand and validated in switch-reads.

    Subclasses say which constraint (``constraint_name``, ``definition``) and
    which catalog ``checks`` come first. Undoing switch-reads re-adds it NOT
    VALID, so the catalog is exactly as expand left it.
    """

    def constraint_name(self) -> str:
        raise NotImplementedError

    def definition(self) -> str:
        """The constraint without its name and without NOT VALID."""
        raise NotImplementedError

    def _add(self, ctx: PlanContext) -> Step:
        return add_not_valid(self, ctx, self.constraint_name(), self.definition())

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [*check_steps(self, ctx), self._add(ctx)]
        if phase is Phase.SWITCH_READS:
            return [validate(self, ctx, self.constraint_name())]
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [drop_constraint(self, ctx, self.constraint_name())]
        if phase is Phase.SWITCH_READS:
            return [drop_constraint(self, ctx, self.constraint_name()), self._add(ctx)]
        return []
