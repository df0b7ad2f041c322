"""``set_not_null``: NOT NULL on an existing column without a long exclusive lock.

expand sets the optional ``default`` (so writers that omit the column stop
producing NULLs); backfill replaces the NULLs already there; switch-reads adds
``CHECK (column IS NOT NULL) NOT VALID`` and validates it in its own
transaction; contract turns it into a real NOT NULL, which PostgreSQL 12+
accepts without a scan thanks to the validated check, and drops the helper.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks, column_fill, not_null_check
from expandctl.model.ops.backfill_workers import BackfillWorkers
from expandctl.model.ops.base import (
    PlanContext,
    SqlText,
    TableOperation,
    check_steps,
    sql,
)
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.retires import RetiredObject
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import AcceptedHazard, Step


class SetNotNull(TableOperation, BackfillWorkers):
    """``op = "set_not_null"``: ``column``; ``backfill`` fills NULLs, ``default`` stops new ones."""

    op: Literal["set_not_null"]
    column: str = Field(min_length=1)
    default: SqlText | None = None
    backfill: SqlText | None = Field(default=None, description="SQL for rows that are NULL now")

    @property
    def fill(self) -> str | None:
        return self.backfill or self.default

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        found = [
            checks.table_exists(self.schema_, self.table),
            checks.column_exists(self.schema_, self.table, self.column),
        ]
        if self.default is not None:
            found.append(checks.column_has_no_default(self.schema_, self.table, self.column))
        return found

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        return [not_null_check.retired(self, ctx, self.column)]

    def backfill_count(self) -> int:
        return 1 if self.fill else 0

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            steps = check_steps(self, ctx)
            if self.default is not None:
                steps.append(column_fill.set_default(self, ctx, self.column, self.default))
            return steps
        if phase is Phase.BACKFILL and self.fill:
            return [column_fill.fill_nulls(self, ctx, self.column, self.fill)]
        if phase is Phase.SWITCH_READS:
            return not_null_check.add(self, ctx, self.column)
        if phase is Phase.CONTRACT:
            return not_null_check.promote(self, ctx, self.column)
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND and self.default is not None:
            return [
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.target} ALTER COLUMN"
                    f" {quote_ident(self.column)} DROP DEFAULT",
                    accepted=(
                        AcceptedHazard(
                            rule_id="C209", reason="the column stays nullable until contract"
                        ),
                    ),
                )
            ]
        if phase is Phase.SWITCH_READS:
            return [not_null_check.drop(self, ctx, self.column)]
        return []
