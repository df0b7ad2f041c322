"""``add_unique``: a unique index built CONCURRENTLY (expand), attached as a constraint in contract.

The index enforces uniqueness from expand on without blocking writes while it
builds. ``ADD CONSTRAINT ... UNIQUE USING INDEX`` is a catalog change done in
contract, where there is no rollback to undo it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks, concurrent_index
from expandctl.model.ops.base import PlanContext, TableOperation, check_steps, sql
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import Step


class AddUnique(TableOperation):
    """``op = "add_unique"``: constraint ``name`` over ``columns``."""

    op: Literal["add_unique"]
    name: str = Field(min_length=1)
    columns: list[str] = Field(min_length=1)

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            *(checks.column_exists(self.schema_, self.table, c) for c in self.columns),
            checks.relation_absent(self.schema_, self.name, "index"),
        ]

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [
                *check_steps(self, ctx),
                concurrent_index.create(self, ctx, self.name, self.columns, unique=True),
            ]
        if phase is Phase.CONTRACT:
            return [
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.target} ADD CONSTRAINT"
                    f" {quote_ident(self.name)} UNIQUE USING INDEX {quote_ident(self.name)}",
                )
            ]
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [concurrent_index.drop(self, ctx, self.in_schema(self.name))]
        return []
