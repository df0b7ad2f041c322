"""``rename_column``: users.name -> users.full_name without breaking either app version.

The new column is a copy kept equal by a sync trigger until contract drops
the old one; see column_sync for the phase by phase story.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from expandctl.model.ops.base import SqlText, SqlType
from expandctl.model.ops.column_sync import (
    CarriedForeignKey,
    ColumnSync,
    ColumnSyncOperation,
    NewColumn,
    OldColumn,
)
from expandctl.model.sql_quote import quote_ident


class RenameColumn(ColumnSyncOperation, CarriedForeignKey):
    """Rename a column: ``op = "rename_column"``, ``column``, ``to``, its ``type``."""

    op: Literal["rename_column"]
    column: str = Field(min_length=1)
    to: str = Field(min_length=1)
    type: SqlType = Field(min_length=1, description="the column's SQL type, e.g. text")
    not_null: bool = Field(default=False, description="the column is NOT NULL: keep it so")
    unique: bool = Field(default=False, description="the column is unique: keep it so")
    index: bool = Field(default=False, description="the column has an index: keep one")
    default: SqlText | None = Field(
        default=None, description="the column's current default (SQL): moved to the new column"
    )

    def sync(self) -> ColumnSync:
        return ColumnSync(
            op=self,
            old=(OldColumn(self.column, down=quote_ident(self.to), default=self.default),),
            new=(
                NewColumn(
                    self.to,
                    self.type,
                    up=quote_ident(self.column),
                    not_null=self.not_null,
                    unique=self.unique,
                    indexed=self.index,
                    default=self.default,
                    references=self.foreign_ref(),
                ),
            ),
            declared_type=self.type,
            declared_unique=self.unique,
            declared_indexed=self.index,
            carried_not_null=((self.column, self.not_null, "not_null"),),
        )
