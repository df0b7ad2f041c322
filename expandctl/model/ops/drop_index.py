"""``drop_index``: DROP INDEX CONCURRENTLY in contract, once only new code runs.

Old code may still depend on the index for speed, so it goes last; contract
has no rollback, so there is nothing to rebuild.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks, concurrent_index
from expandctl.model.ops.base import OperationBase, PlanContext, check_steps
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject
from expandctl.model.sql_quote import qualified
from expandctl.model.steps import Step


class DropIndex(OperationBase):
    """``op = "drop_index"``: index ``name`` (optionally in ``schema``)."""

    op: Literal["drop_index"]
    name: str = Field(min_length=1)
    schema_: str | None = Field(default=None, alias="schema", min_length=1)

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [checks.relation_exists(self.schema_, self.name, "index")]

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        name = f"{self.schema_}.{self.name}" if self.schema_ else self.name
        return [RetiredObject(kind=ObjectKind.INDEX, name=name.lower())]

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return check_steps(self, ctx)
        if phase is Phase.CONTRACT:
            return [concurrent_index.drop(self, ctx, qualified(self.schema_, self.name))]
        return []
