"""What ``retype_column`` declares besides its own fields, and what its swap reads of it.

Kept apart from ``retype_column`` so the swap (``retype_swap``) can be typed
against the operation without importing it: the operation imports the swap.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from expandctl.model.ops.base import PlanContext, SqlText
from expandctl.model.ops.retype_side import Side
from expandctl.model.steps import Step

OnDelete = Literal["no action", "restrict", "cascade", "set null", "set default"]


class Referencing(BaseModel):
    """A column in another table whose foreign key references the retyped column."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    table: str = Field(min_length=1)
    schema_: str | None = Field(default=None, alias="schema", min_length=1)
    column: str = Field(min_length=1)
    constraint: str | None = Field(
        default=None, min_length=1, description="the foreign key's name (default table_column_fkey)"
    )
    on_delete: OnDelete = "no action"
    not_null: bool = False
    indexes: list[str] = Field(default_factory=list, description="plain indexes on the column")

    @property
    def constraint_name(self) -> str:
        return self.constraint or f"{self.table}_{self.column}_fkey"


class CheckConstraint(BaseModel):
    """A check constraint on the column, re-added on the new column by the swap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    check: SqlText


class RetypeSubject(Protocol):
    """The parts of a ``retype_column`` operation its swap reads."""

    @property
    def table(self) -> str: ...
    @property
    def column(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def from_type(self) -> str: ...
    @property
    def default(self) -> str | None: ...
    @property
    def new_default(self) -> str | None: ...
    @property
    def identity(self) -> Literal["always", "by default"] | None: ...
    @property
    def check_constraints(self) -> list[CheckConstraint]: ...
    @property
    def sequence_name(self) -> str | None: ...

    def in_schema(self, name: str) -> str: ...
    def unique_keys(self) -> list[tuple[str, str]]: ...
    def lock_tables(self, ctx: PlanContext) -> Step: ...
    def foreign_key_copy(self, ctx: PlanContext, ref: Referencing) -> str: ...
    def index_copies(
        self, ctx: PlanContext, side: Side, which: str, *, plain: bool
    ) -> list[Step]: ...
    def foreign_key_copies(self, ctx: PlanContext) -> list[Step]: ...
    def sequence_fits(self) -> tuple[str, str] | None: ...
