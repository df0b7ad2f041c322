"""``migration.toml``: what a migration declares. Unknown keys are errors."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from expandctl.model.backfill import BackfillSpec
from expandctl.model.gates import GateSpec
from expandctl.model.operations import Operation
from expandctl.model.phases import Phase
from expandctl.model.retires import RetiredObject

MIGRATION_ID = re.compile(r"^(?P<number>\d{4,})_(?P<slug>[a-z0-9][a-z0-9_]*)$")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1)
    requires: list[str] = Field(default_factory=list)
    retires: list[RetiredObject] = Field(default_factory=list)
    backfill: list[BackfillSpec] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=list)
    gates: dict[Phase, GateSpec] = Field(default_factory=dict)

    @field_validator("retires", mode="before")
    @classmethod
    def _parse_retires(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [RetiredObject.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("backfill", mode="before")
    @classmethod
    def _one_or_many_backfills(cls, value: Any) -> Any:
        # [backfill] is one table; [[backfill]] is several.
        return [value] if isinstance(value, dict) else value

    @field_validator("requires")
    @classmethod
    def _requires_are_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not MIGRATION_ID.match(item):
                raise ValueError(
                    f"{item!r} is not a migration id (a folder name like '0001_create_users')"
                )
        return value
