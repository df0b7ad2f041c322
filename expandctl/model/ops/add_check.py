"""``add_check``: a CHECK constraint added NOT VALID (expand), validated in switch-reads.

NOT VALID checks new writes at once while skipping the scan under the
exclusive lock; VALIDATE scans later, in its own transaction, under a lock
that lets reads and writes through. Undoing switch-reads re-adds the check
NOT VALID, so the catalog is exactly as expand left it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks
from expandctl.model.ops.base import PlanContext, SqlText, TableOperation, check_steps, sql
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


class AddCheck(TableOperation):
    """``op = "add_check"``: constraint ``name`` with condition ``check``."""

    op: Literal["add_check"]
    name: str = Field(min_length=1)
    check: SqlText = Field(min_length=1, description="SQL boolean condition over the row")

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            checks.constraint_absent(self.schema_, self.table, self.name),
        ]

    def _add(self, ctx: PlanContext) -> Step:
        return sql(
            self,
            ctx,
            f"ALTER TABLE {self.target} ADD CONSTRAINT"
            f" {quote_ident(self.name)} CHECK ({self.check}) NOT VALID",
        )

    def _drop(self, ctx: PlanContext) -> Step:
        return sql(
            self,
            ctx,
            f"ALTER TABLE {self.target} DROP CONSTRAINT IF EXISTS {quote_ident(self.name)}",
        )

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [*check_steps(self, ctx), self._add(ctx)]
        if phase is Phase.SWITCH_READS:
            return [
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.target} VALIDATE CONSTRAINT {quote_ident(self.name)}",
                    autocommit=True,
                )
            ]
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [self._drop(ctx)]
        if phase is Phase.SWITCH_READS:
            return [self._drop(ctx), self._add(ctx)]
        return []
