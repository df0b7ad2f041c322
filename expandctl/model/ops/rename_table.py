"""``rename_table``: the table takes its new name in expand; a view keeps the old one.

The view ``old AS SELECT * FROM new`` is simple, hence automatically
updatable: old code keeps selecting, inserting and updating through it while
new code uses the new name. Contract drops the view. Undoing expand drops the
view and renames the table back, in one transaction.
"""

# ruff: noqa: S608 -- generating SQL is this module's job: names go through
# quote_ident, expressions are the developer's SQL and the linter checks them.
from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks
from expandctl.model.ops.base import PlanContext, TableOperation, check_steps, sql
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import AcceptedHazard, Step


class RenameTable(TableOperation):
    """``op = "rename_table"``: ``table`` becomes ``to`` (same schema)."""

    op: Literal["rename_table"]
    to: str = Field(min_length=1)

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            checks.relation_absent(self.schema_, self.to, "table"),
        ]

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        return [self.retired(ObjectKind.VIEW, self.table)]

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [
                *check_steps(self, ctx),
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.target} RENAME TO {quote_ident(self.to)}",
                    accepted=(
                        AcceptedHazard(
                            rule_id="C205",
                            reason="the view created next keeps the old name working",
                        ),
                    ),
                ),
                sql(
                    self,
                    ctx,
                    f"CREATE VIEW {self.target} AS SELECT * FROM {self.in_schema(self.to)}",
                ),
            ]
        if phase is Phase.CONTRACT:
            return [sql(self, ctx, f"DROP VIEW IF EXISTS {self.target}")]
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            return [
                sql(self, ctx, f"DROP VIEW IF EXISTS {self.target}"),
                sql(
                    self,
                    ctx,
                    f"ALTER TABLE {self.in_schema(self.to)} RENAME TO {quote_ident(self.table)}",
                ),
            ]
        return []
