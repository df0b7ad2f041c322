"""``replace_column``: the general case, old column(s) -> new column(s).

Each new column is computed from the old ones by its ``up``; each old column
is recomputed from the new ones by its ``down``. Splitting ``name`` into
``first_name``/``last_name``::

    [[operations]]
    op = "replace_column"
    table = "users"
    old = [{ name = "name", down = "first_name || ' ' || last_name" }]
    new = [
      { name = "first_name", type = "text", up = "split_part(name, ' ', 1)" },
      { name = "last_name", type = "text",
        up = "substr(name, length(split_part(name, ' ', 1)) + 2)" },
    ]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from expandctl.model.ops.base import SqlText, SqlType
from expandctl.model.ops.column_sync import ColumnSync, ColumnSyncOperation, NewColumn, OldColumn


class OldColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    down: SqlText = Field(min_length=1, description="SQL over the new columns")
    default: SqlText | None = Field(default=None, description="its current default: see docs")


class NewColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: SqlType = Field(min_length=1)
    up: SqlText = Field(min_length=1, description="SQL over the old columns")
    not_null: bool = False
    unique: bool = False
    index: bool = False
    default: SqlText | None = None


class ReplaceColumn(ColumnSyncOperation):
    """``op = "replace_column"``: ``old`` columns become ``new`` columns."""

    op: Literal["replace_column"]
    old: list[OldColumnSpec] = Field(min_length=1)
    new: list[NewColumnSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_names(self) -> ReplaceColumn:
        names = [c.name for c in self.old] + [c.name for c in self.new]
        if len(set(names)) != len(names):
            raise ValueError("old and new column names must all differ")
        return self

    def sync(self) -> ColumnSync:
        return ColumnSync(
            op=self,
            old=tuple(OldColumn(c.name, down=c.down, default=c.default) for c in self.old),
            new=tuple(
                NewColumn(
                    c.name,
                    c.type,
                    up=c.up,
                    not_null=c.not_null,
                    unique=c.unique,
                    indexed=c.index,
                    default=c.default,
                )
                for c in self.new
            ),
            default_option="old[].default",
            declared_unique=any(c.unique for c in self.new),
            declared_indexed=any(c.index for c in self.new),
            foreign_key_hint="replace_column cannot carry a foreign key yet: use rename_column or"
            " change_column_type (references = ...), or an sql operation",
        )
