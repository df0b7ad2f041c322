"""``sql``: raw SQL per phase, exactly as the phase files would hold it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops.base import OperationBase, PlanContext, source
from expandctl.model.phases import Phase
from expandctl.model.sql_slots import SqlScript
from expandctl.model.sql_steps import sql_steps
from expandctl.model.steps import Step


class SqlOperation(OperationBase):
    """Raw SQL per phase; ``<phase>.down`` keys hold the reverse of a phase."""

    op: Literal["sql"]
    expand: SqlScript | None = None
    switch_reads: SqlScript | None = Field(default=None, alias="switch-reads")
    switch_writes: SqlScript | None = Field(default=None, alias="switch-writes")
    contract: SqlScript | None = None
    expand_down: SqlScript | None = Field(default=None, alias="expand.down")
    switch_reads_down: SqlScript | None = Field(default=None, alias="switch-reads.down")
    switch_writes_down: SqlScript | None = Field(default=None, alias="switch-writes.down")

    def _text(self, phase: Phase, rollback: bool) -> str | None:
        attr = phase.value.replace("-", "_") + ("_down" if rollback else "")
        value = getattr(self, attr, None)
        return value if isinstance(value, str) else None

    def _steps(self, phase: Phase, ctx: PlanContext, rollback: bool) -> list[Step]:
        text = self._text(phase, rollback)
        if not text:
            return []
        return list(sql_steps(text, source=source(self, ctx), server_version=ctx.server_version))

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        return self._steps(phase, ctx, rollback=False)

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        return self._steps(phase, ctx, rollback=True)
