"""``create_index``: CREATE INDEX CONCURRENTLY in expand; undone by DROP INDEX CONCURRENTLY.

Both are re-runnable (IF [NOT] EXISTS), and the engine drops an INVALID
index left by an interrupted build before trying again.
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
        cols = ", ".join(quote_ident(c) for c in self.columns)
        text = (
            f"CREATE {'UNIQUE ' if self.unique else ''}INDEX CONCURRENTLY IF NOT EXISTS"
            f" {quote_ident(self.name)} ON {self.target}"
            f"{f' USING {self.using}' if self.using else ''} ({cols})"
            f"{f' WHERE {self.where}' if self.where else ''}"
        )
        index = self.in_schema(self.name)
        return [
            *check_steps(self, ctx),
            sql(self, ctx, text, autocommit=True, index=index, action="create"),
        ]

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is not Phase.EXPAND:
            return []
        index = self.in_schema(self.name)
        return [
            sql(
                self,
                ctx,
                f"DROP INDEX CONCURRENTLY IF EXISTS {index}",
                autocommit=True,
                index=index,
                action="drop",
            )
        ]
