"""``add_column``: any default / NOT NULL combination, the safe way.

expand adds the column nullable and without a default, then sets the default
(a catalog-only change that new rows use): never a table rewrite, even for a
volatile default. backfill fills existing rows. NOT NULL comes as a CHECK
added NOT VALID and validated in switch-reads, then turned into a real NOT
NULL in contract, where the validated check makes it instant.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from expandctl.model.ops import checks, column_fill, not_null_check
from expandctl.model.ops.backfill_workers import BackfillWorkers
from expandctl.model.ops.base import (
    PlanContext,
    SqlText,
    SqlType,
    TableOperation,
    check_steps,
    sql,
)
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.retires import RetiredObject
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


class AddColumn(TableOperation, BackfillWorkers):
    """``op = "add_column"``: ``column`` of ``type``, optional ``default`` and ``not_null``."""

    op: Literal["add_column"]
    column: str = Field(min_length=1)
    type: SqlType = Field(min_length=1)
    default: SqlText | None = Field(default=None, description="SQL default for new rows")
    not_null: bool = False
    backfill: SqlText | None = Field(
        default=None, description="SQL for existing rows (default: the default)"
    )

    @model_validator(mode="after")
    def _not_null_needs_a_value(self) -> AddColumn:
        if self.not_null and self.default is None:
            raise ValueError(
                "not_null needs a default: old app versions insert rows without this column"
            )
        return self

    @property
    def fill(self) -> str | None:
        return self.backfill or self.default

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            checks.column_absent(self.schema_, self.table, self.column),
        ]

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        return [not_null_check.retired(self, ctx, self.column)]

    def backfill_count(self) -> int:
        return 1 if self.fill else 0

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            column = quote_ident(self.column)
            steps = [
                *check_steps(self, ctx),
                sql(self, ctx, f"ALTER TABLE {self.target} ADD COLUMN {column} {self.type}"),
            ]
            if self.default is not None:
                steps.append(column_fill.set_default(self, ctx, self.column, self.default))
            return steps
        if phase is Phase.BACKFILL and self.fill:
            return [column_fill.fill_nulls(self, ctx, self.column, self.fill)]
        if phase is Phase.SWITCH_READS and self.not_null:
            return not_null_check.add(self, ctx, self.column)
        if phase is Phase.CONTRACT and self.not_null:
            return not_null_check.promote(self, ctx, self.column)
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.target} DROP COLUMN IF EXISTS {quote_ident(self.column)}",
                )
            ]
        if phase is Phase.SWITCH_READS and self.not_null:
            return [not_null_check.drop(self, ctx, self.column)]
        return []
