"""Declarative operations (``[[operations]]``): one ``op`` each.

Each operation is one model in expandctl.model.ops (one file per operation);
``Operation`` is their union, discriminated on ``op``, and OPERATION_MODELS
the explicit registry.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from expandctl.model.ops.add_check import AddCheck
from expandctl.model.ops.add_column import AddColumn
from expandctl.model.ops.add_foreign_key import AddForeignKey
from expandctl.model.ops.add_unique import AddUnique
from expandctl.model.ops.change_column_type import ChangeColumnType
from expandctl.model.ops.create_index import CreateIndex
from expandctl.model.ops.create_table import CreateTable
from expandctl.model.ops.drop_column import DropColumn
from expandctl.model.ops.drop_index import DropIndex
from expandctl.model.ops.drop_not_null import DropNotNull
from expandctl.model.ops.drop_table import DropTable
from expandctl.model.ops.registry import OPERATION_CLASSES
from expandctl.model.ops.rename_column import RenameColumn
from expandctl.model.ops.rename_table import RenameTable
from expandctl.model.ops.replace_column import ReplaceColumn
from expandctl.model.ops.set_not_null import SetNotNull
from expandctl.model.ops.sql_op import SqlOperation

OPERATION_MODELS: tuple[type[BaseModel], ...] = OPERATION_CLASSES

Operation = Annotated[
    CreateTable
    | AddColumn
    | RenameColumn
    | ChangeColumnType
    | ReplaceColumn
    | SetNotNull
    | DropNotNull
    | AddCheck
    | AddForeignKey
    | AddUnique
    | CreateIndex
    | DropIndex
    | DropColumn
    | DropTable
    | RenameTable
    | SqlOperation,
    Field(discriminator="op"),
]

__all__ = ["OPERATION_MODELS", "Operation", "SqlOperation"]
