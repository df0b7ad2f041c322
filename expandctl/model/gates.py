"""Gates: conditions checked before a phase may start."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from expandctl.model.durations import Duration


class GateSpec(BaseModel):
    """``[gates.<phase>]``: every condition given must hold before the phase runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_soak: Duration | None = Field(
        default=None, description="minimum time since the previous phase finished"
    )
    sql: str | None = Field(default=None, min_length=1, description="a query that must return true")
