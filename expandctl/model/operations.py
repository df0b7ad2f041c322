"""Declarative operations (``[[operations]]``): one ``op`` each.

Each operation is one model in expandctl.model.ops (one file per operation),
listed once in ``expandctl.model.ops.registry.OPERATION_CLASSES``; pydantic
tells them apart by ``op``. Adding an operation is that one file, its tests
and one line in the registry tuple: the union below is built from it.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from expandctl.model.ops.registry import OPERATION_CLASSES

if TYPE_CHECKING:  # mypy cannot follow a union built at run time: it sees the base class
    from expandctl.model.ops.base import OperationBase as Operation
else:
    # CreateTable | AddColumn | ... , discriminated on ``op``.
    Operation = Annotated[reduce(operator.or_, OPERATION_CLASSES), Field(discriminator="op")]

__all__ = ["Operation"]
