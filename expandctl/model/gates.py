"""Gates: conditions checked before a phase may start."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from expandctl.model.durations import Duration

# Keys added after migrations were first recorded: left out of the serialized form
# while unset, so the checksum of a manifest that does not use them is unchanged.
_LATER_KEYS = ("alembic_revision", "alembic_config", "django_migration")


class GateSpec(BaseModel):
    """``[gates.<phase>]``: every condition given must hold before the phase runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_soak: Duration | None = Field(
        default=None, description="minimum time since the previous phase finished"
    )
    sql: str | None = Field(default=None, min_length=1, description="a query that must return true")
    alembic_revision: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Za-z_]+$",
        description="an Alembic revision that must be applied (in alembic_version, or an "
        "ancestor of a revision there)",
    )
    alembic_config: str | None = Field(
        default=None,
        min_length=1,
        description="the alembic.ini whose revision files tell ancestors apart "
        "(default: alembic.ini where expandctl runs)",
    )
    django_migration: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.[0-9A-Za-z_]+$",
        description="APP.NAME of a Django migration that must be applied (in django_migrations)",
    )

    @model_serializer(mode="wrap")
    def _stable(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in _LATER_KEYS:
            if data.get(key) is None:
                data.pop(key, None)
        return data
