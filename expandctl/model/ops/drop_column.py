"""``drop_column``: gone in contract, once no running code reads or writes it.

Before that the column stays; if it is NOT NULL without a default, new code
that no longer writes it cannot insert, so the operation refuses such a
column until a drop_not_null (earlier in the same migration, or before) has
relaxed it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks
from expandctl.model.ops.base import PlanContext, TableOperation, check_steps, sql
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


class DropColumn(TableOperation):
    """``op = "drop_column"``: ``column`` of ``table``."""

    op: Literal["drop_column"]
    column: str = Field(min_length=1)

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        writable = checks.attribute(
            self.schema_, self.table, self.column, "(NOT attnotnull OR atthasdef)"
        )
        return [
            checks.table_exists(self.schema_, self.table),
            checks.column_exists(self.schema_, self.table, self.column),
            CatalogCheck(
                sql=writable,
                message=f"column {self.display}.{self.column} is NOT NULL without a default:"
                " new code that stops writing it could not insert",
                hint="add a drop_not_null operation for it before drop_column",
            ),
        ]

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        return [self.retired(ObjectKind.COLUMN, self.table, self.column)]

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return check_steps(self, ctx)
        if phase is Phase.CONTRACT:
            return [
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.target} DROP COLUMN IF EXISTS {quote_ident(self.column)}",
                )
            ]
        return []
