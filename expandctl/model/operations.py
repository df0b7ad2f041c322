"""Declarative operations (``[[operations]]``): one ``op`` each.

Each operation is one model; OPERATION_MODELS is the explicit registry.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class SqlOperation(BaseModel):
    """Raw SQL per phase, exactly as the phase files would hold it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["sql"]
    expand: str | None = None
    switch_reads: str | None = Field(default=None, alias="switch-reads")
    switch_writes: str | None = Field(default=None, alias="switch-writes")
    contract: str | None = None
    expand_down: str | None = Field(default=None, alias="expand.down")
    switch_reads_down: str | None = Field(default=None, alias="switch-reads.down")
    switch_writes_down: str | None = Field(default=None, alias="switch-writes.down")


OPERATION_MODELS: tuple[type[BaseModel], ...] = (SqlOperation,)

Operation = Annotated[SqlOperation, Field(discriminator="op")]
