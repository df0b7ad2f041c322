"""``add_foreign_key``: added NOT VALID (expand), validated in switch-reads.

Adding it NOT VALID takes a brief lock on both tables and checks new writes
only; VALIDATE checks existing rows later without blocking writers. Undoing
switch-reads re-adds it NOT VALID, leaving the catalog as expand left it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from expandctl.model.ops import checks
from expandctl.model.ops.base import PlanContext
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.ops.validated_constraint import ValidatedConstraint
from expandctl.model.sql_quote import qualified, quote_ident

Action = Literal["no action", "restrict", "cascade", "set null", "set default"]


class AddForeignKey(ValidatedConstraint):
    """``op = "add_foreign_key"``: ``columns`` of ``table`` reference ``references``."""

    op: Literal["add_foreign_key"]
    name: str = Field(min_length=1)
    columns: list[str] = Field(min_length=1)
    references: str = Field(min_length=1, description="the referenced table")
    references_schema: str | None = None
    references_columns: list[str] = Field(min_length=1)
    on_delete: Action = "no action"
    on_update: Action = "no action"

    @model_validator(mode="after")
    def _same_width(self) -> AddForeignKey:
        if len(self.columns) != len(self.references_columns):
            raise ValueError("columns and references_columns must have the same length")
        return self

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return [
            checks.table_exists(self.schema_, self.table),
            *(checks.column_exists(self.schema_, self.table, c) for c in self.columns),
            checks.table_exists(self.references_schema, self.references),
            *(
                checks.column_exists(self.references_schema, self.references, c)
                for c in self.references_columns
            ),
            checks.constraint_absent(self.schema_, self.table, self.name),
        ]

    def constraint_name(self) -> str:
        return self.name

    def definition(self) -> str:
        cols = ", ".join(quote_ident(c) for c in self.columns)
        refs = ", ".join(quote_ident(c) for c in self.references_columns)
        target = qualified(self.references_schema, self.references)
        return (
            f"FOREIGN KEY ({cols}) REFERENCES {target} ({refs})"
            f" ON DELETE {self.on_delete.upper()} ON UPDATE {self.on_update.upper()}"
        )
