"""``change_column_type``: a new column of the new type, converted both ways.

``up`` turns the old column into the new type (default: a plain CAST);
``down`` turns the new column back (required: narrowing must be explicit).
The new column gets its own name; see column_sync for the phases. Whether
the old column is NOT NULL, unique or indexed is read from the catalog when
the manifest leaves it out (``with_facts``), and checked when it states it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from expandctl.model.ops.base import SqlText, SqlType
from expandctl.model.ops.column_facts import CatalogFacts, ColumnKey, FactConflict
from expandctl.model.ops.column_facts_fill import carried_facts
from expandctl.model.ops.column_sync import (
    CarriedForeignKey,
    ColumnSync,
    ColumnSyncOperation,
    NewColumn,
    OldColumn,
)
from expandctl.model.sql_quote import quote_ident


class ChangeColumnType(ColumnSyncOperation, CarriedForeignKey):
    """``op = "change_column_type"``: ``column`` -> ``to`` of ``type``, via ``up``/``down``."""

    op: Literal["change_column_type"]
    column: str = Field(min_length=1)
    to: str = Field(min_length=1, description="name of the new column")
    type: SqlType = Field(min_length=1, description="the new SQL type, e.g. bigint")
    up: SqlText | None = Field(default=None, description="SQL over the old column; default CAST")
    down: SqlText = Field(min_length=1, description="SQL over the new column giving the old value")
    not_null: bool | None = Field(default=None, description="default: the catalog's")
    unique: bool | None = Field(default=None, description="default: the catalog's")
    index: bool | None = Field(
        default=None, description="the column has an index: keep one; default: the catalog's"
    )
    default: SqlText | None = Field(default=None, description="the new column's default (SQL)")
    old_default: SqlText | None = Field(
        default=None, description="the old column's current default: restored on rollback"
    )

    @model_validator(mode="after")
    def _default_moves_with_the_column(self) -> ChangeColumnType:
        if self.old_default is not None and self.default is None:
            raise ValueError(
                "old_default needs default: inserts that omit the column must still get a value"
            )
        return self

    def fact_columns(self) -> Sequence[ColumnKey]:
        return [(self.schema_, self.table, self.column)]

    def declared_types(self) -> Sequence[str]:
        return []  # ``type`` is the new type: nothing the catalog knows yet

    def with_facts(
        self, facts: CatalogFacts, where: str
    ) -> tuple[ChangeColumnType, list[FactConflict]]:
        # The old default stays declared: expand drops it, so the catalog cannot give
        # it back to a later rollback of expand.
        filled, conflicts = carried_facts(self, facts, where, type_key=None, default_key=None)
        return self.model_copy(update=filled), conflicts

    def sync(self) -> ColumnSync:
        up = self.up or f"CAST({quote_ident(self.column)} AS {self.type})"
        return ColumnSync(
            op=self,
            old=(OldColumn(self.column, down=self.down, default=self.old_default),),
            new=(
                NewColumn(
                    self.to,
                    self.type,
                    up=up,
                    not_null=bool(self.not_null),
                    unique=bool(self.unique),
                    indexed=bool(self.index),
                    default=self.default,
                    references=self.foreign_ref(),
                ),
            ),
            declared_unique=bool(self.unique),
            declared_indexed=bool(self.index),
            carried_not_null=((self.column, bool(self.not_null), "not_null"),),
            default_option="old_default",
        )
