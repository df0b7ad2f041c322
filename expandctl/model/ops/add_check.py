"""``add_check``: a CHECK constraint added NOT VALID (expand), validated in switch-reads.

NOT VALID checks new writes at once while skipping the scan under the
exclusive lock; VALIDATE scans later, in its own transaction, under a lock
that lets reads and writes through. Undoing switch-reads re-adds the check
NOT VALID, so the catalog is exactly as expand left it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops import checks
from expandctl.model.ops.base import PlanContext, SqlText
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.ops.validated_constraint import ValidatedConstraint


class AddCheck(ValidatedConstraint):
    """``op = "add_check"``: constraint ``name`` with condition ``check``."""

    op: Literal["add_check"]
    name: str = Field(min_length=1)
    check: SqlText = Field(min_length=1, description="SQL boolean condition over the row")

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            checks.constraint_absent(self.schema_, self.table, self.name),
        ]

    def constraint_name(self) -> str:
        return self.name

    def definition(self) -> str:
        return f"CHECK ({self.check})"
