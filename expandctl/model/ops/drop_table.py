"""``drop_table``: gone in contract, once no running code uses it."""

from __future__ import annotations

from typing import Literal

from expandctl.model.ops import checks
from expandctl.model.ops.base import PlanContext, TableOperation, check_steps, sql
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject
from expandctl.model.steps import Step


class DropTable(TableOperation):
    """``op = "drop_table"``: ``table``."""

    op: Literal["drop_table"]

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [checks.table_exists(self.schema_, self.table)]

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        return [self.retired(ObjectKind.TABLE, self.table)]

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return check_steps(self, ctx)
        if phase is Phase.CONTRACT:
            return [sql(self, ctx, f"DROP TABLE IF EXISTS {self.target}")]
        return []
