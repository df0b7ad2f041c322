"""``create_index``: CREATE INDEX CONCURRENTLY in expand; undone by DROP INDEX CONCURRENTLY.

Both are re-runnable (IF [NOT] EXISTS), and the engine drops an INVALID
index left by an interrupted build before trying again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks, concurrent_index
from expandctl.model.ops.base import PlanContext, SqlText, TableOperation, check_steps
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.steps import Step


class CreateIndex(TableOperation):
    """``op = "create_index"``: ``name`` over ``columns``; ``unique``, ``using``, ``where``."""

    op: Literal["create_index"]
    name: str = Field(min_length=1)
    columns: list[str] = Field(min_length=1)
    unique: bool = False
    using: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    where: SqlText | None = Field(default=None, description="partial index predicate (SQL)")

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            *(checks.column_exists(self.schema_, self.table, c) for c in self.columns),
            checks.relation_absent(self.schema_, self.name, "index"),
        ]

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is not Phase.EXPAND:
            return []
        return [
            *check_steps(self, ctx),
            concurrent_index.create(
                self,
                ctx,
                self.name,
                self.columns,
                unique=self.unique,
                using=self.using,
                where=self.where,
            ),
        ]

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is not Phase.EXPAND:
            return []
        return [concurrent_index.drop(self, ctx, self.in_schema(self.name))]
