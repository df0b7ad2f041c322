"""``drop_not_null``: allow NULLs (expand). Instant; old code keeps writing values.

Undoing it is the careful direction: a CHECK NOT VALID, validated in its own
transaction, then SET NOT NULL (instant thanks to the check) and the helper
dropped. It fails if NULLs were written meanwhile, as it must.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks, not_null_check
from expandctl.model.ops.base import PlanContext, TableOperation, check_steps, sql
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


class DropNotNull(TableOperation):
    """``op = "drop_not_null"``: ``column`` may hold NULL from now on."""

    op: Literal["drop_not_null"]
    column: str = Field(min_length=1)

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            checks.column_exists(self.schema_, self.table, self.column),
        ]

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [
                *check_steps(self, ctx),
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.target} ALTER COLUMN"
                    f" {quote_ident(self.column)} DROP NOT NULL",
                ),
            ]
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is not Phase.EXPAND:
            return []
        return [
            *not_null_check.add(self, ctx, self.column),
            *not_null_check.promote(self, ctx, self.column),
        ]
