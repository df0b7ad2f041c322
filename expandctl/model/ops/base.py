"""What every declarative operation shares: the planning context and step helpers.

An operation is a frozen pydantic model with ``op`` as its discriminator. It
plans, never runs: ``forward(phase, ctx)`` and ``reverse(phase, ctx)`` return
the steps of running and of undoing one phase; ``checks(ctx)`` returns the
catalog preconditions, checked by CheckSteps at the head of expand.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from expandctl.model.backfill import BackfillSpec
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject, spell
from expandctl.model.sql_quote import object_name, qualified
from expandctl.model.sql_slots import SqlText as SqlText
from expandctl.model.sql_slots import SqlType as SqlType
from expandctl.model.steps import AcceptedHazard, BackfillStep, SqlStep, Step


class PlanContext(BaseModel):
    """Where an operation sits: its migration, its position, its first backfill index."""

    model_config = ConfigDict(frozen=True)

    migration_id: str
    position: int = 0  # 0-based among the manifest's [[operations]]
    backfill_index: int = 0  # manifest [[backfill]] entries come first
    server_version: int = 18

    @property
    def number(self) -> str:
        """The migration's numeric prefix, used in generated object names."""
        return self.migration_id.split("_", 1)[0]


class OperationBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        return []

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return []

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        """What contract removes, so the lint gate knows those drops are intended."""
        return []

    def backfill_count(self) -> int:
        """How many BackfillSteps this operation adds (to number the next one's)."""
        return 0

    @property
    def label(self) -> str:
        op = getattr(self, "op", type(self).__name__)
        return str(op)


class TableOperation(OperationBase):
    """An operation on one existing table."""

    table: str = Field(min_length=1)
    schema_: str | None = Field(default=None, alias="schema", min_length=1)

    @property
    def target(self) -> str:
        return qualified(self.schema_, self.table)

    @property
    def display(self) -> str:
        return f"{self.schema_}.{self.table}" if self.schema_ else self.table

    def retired(self, kind: ObjectKind, *parts: str) -> RetiredObject:
        """``retires`` entry for an object of this table (names as PostgreSQL stores them)."""
        prefix = [self.schema_] if self.schema_ else []
        return RetiredObject(kind=kind, name=".".join(spell(p) for p in [*prefix, *parts]))

    def in_schema(self, name: str) -> str:
        """Another object (function, index) in the table's schema."""
        return qualified(self.schema_, name)


ACTIONS: dict[str, Literal["create", "drop"]] = {"create": "create", "drop": "drop"}


def source(op: object, ctx: PlanContext) -> str:
    return f"operation {ctx.position + 1}"


def sql(
    op: OperationBase,
    ctx: PlanContext,
    text: str,
    *,
    autocommit: bool = False,
    index: str | None = None,
    action: str | None = None,
    accepted: tuple[AcceptedHazard, ...] = (),
) -> SqlStep:
    """One generated statement as a step; CONCURRENTLY ones carry the index name.

    ``accepted``: lint findings this statement raises by design, with the reason
    the operation makes it safe (the linter counts them as suppressed).
    """
    return SqlStep(
        sql=text,
        source=source(op, ctx),
        autocommit=autocommit,
        concurrent_index=index,
        concurrent_action=ACTIONS.get(action or ""),
        accepted=accepted,
    )


def check_steps(op: OperationBase, ctx: PlanContext) -> list[Step]:
    """The operation's preconditions, as CheckSteps (evaluated, never rendered to SQL)."""
    return [check.step(source(op, ctx)) for check in op.checks(ctx)]


def backfill(ctx: PlanContext, spec: BackfillSpec, offset: int = 0) -> BackfillStep:
    return BackfillStep(index=ctx.backfill_index + offset, spec=spec)


def generated_name(ctx: PlanContext, *parts: str) -> str:
    """``expandctl_0010_users_name_sync``: says who made it and for what."""
    return object_name("expandctl", ctx.number, *parts)


def trigger_clause(ctx: PlanContext) -> str:
    # EXECUTE FUNCTION needs PostgreSQL 11; older servers spell it PROCEDURE.
    return "EXECUTE FUNCTION" if ctx.server_version >= 11 else "EXECUTE PROCEDURE"
