"""``rename_column``: users.name -> users.full_name without breaking either app version.

The new column is a copy kept equal by a sync trigger until contract drops
the old one; see column_sync for the phase by phase story.

What the old column is — its type, NOT NULL, uniqueness, index, default — is
read from the catalog when the manifest leaves it out (``with_facts``); what
the manifest states is checked against the catalog before anything is planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from expandctl.model.ops.base import SqlText, SqlType
from expandctl.model.ops.column_facts import (
    CatalogFacts,
    ColumnKey,
    FactConflict,
    unknown_type,
)
from expandctl.model.ops.column_facts_fill import carried_facts
from expandctl.model.ops.column_sync import (
    CarriedForeignKey,
    ColumnSync,
    ColumnSyncOperation,
    NewColumn,
    OldColumn,
)
from expandctl.model.sql_quote import quote_ident


class RenameColumn(ColumnSyncOperation, CarriedForeignKey):
    """Rename a column: ``op = "rename_column"``, ``column``, ``to``."""

    op: Literal["rename_column"]
    column: str = Field(min_length=1)
    to: str = Field(min_length=1)
    type: SqlType | None = Field(
        default=None, min_length=1, description="the column's SQL type; default: the catalog's"
    )
    not_null: bool | None = Field(
        default=None, description="the column is NOT NULL: keep it so; default: the catalog's"
    )
    unique: bool | None = Field(
        default=None, description="the column is unique: keep it so; default: the catalog's"
    )
    index: bool | None = Field(
        default=None, description="the column has an index: keep one; default: the catalog's"
    )
    default: SqlText | None = Field(
        default=None,
        description="the column's current default (SQL): moved to the new column;"
        " default: the catalog's",
    )

    def fact_columns(self) -> Sequence[ColumnKey]:
        # The new column too: once expand moved the default there, it is found there.
        return [(self.schema_, self.table, self.column), (self.schema_, self.table, self.to)]

    def declared_types(self) -> Sequence[str]:
        return [self.type] if self.type else []

    def with_facts(
        self, facts: CatalogFacts, where: str
    ) -> tuple[RenameColumn, list[FactConflict]]:
        filled, conflicts = carried_facts(self, facts, where, type_key="type")
        return self.model_copy(update=filled), conflicts

    def sync(self) -> ColumnSync:
        column_type = self.type or unknown_type(self.display, self.column)
        return ColumnSync(
            op=self,
            old=(OldColumn(self.column, down=quote_ident(self.to), default=self.default),),
            new=(
                NewColumn(
                    self.to,
                    column_type,
                    up=quote_ident(self.column),
                    not_null=bool(self.not_null),
                    unique=bool(self.unique),
                    indexed=bool(self.index),
                    default=self.default,
                    references=self.foreign_ref(),
                ),
            ),
            declared_type=self.type,
            declared_unique=bool(self.unique),
            declared_indexed=bool(self.index),
            carried_not_null=((self.column, bool(self.not_null), "not_null"),),
        )
