"""The ``[backfill]`` section: which rows of which table to fill, and how gently."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from expandctl.model.durations import Duration, PgTimeout
from expandctl.model.sql_slots import SqlText

# More connections than this only queue behind each other's WAL and CPU.
MAX_WORKERS = 16


def check_workers(value: int | str) -> int | str:
    """``workers``: 1 to MAX_WORKERS, or "auto" (the engine decides from the server)."""
    if isinstance(value, int) and not 1 <= value <= MAX_WORKERS:
        raise ValueError(f"workers must be 1 to {MAX_WORKERS}, or 'auto'")
    return value


class BackfillSpec(BaseModel):
    """Fill new columns of one table, keyset batch by keyset batch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(min_length=1, description="table to fill, optionally schema-qualified")
    set: dict[str, SqlText] = Field(
        min_length=1, description="column = SQL expression over the row"
    )
    where: SqlText = Field(min_length=1, description="rows still to do; also the idempotence guard")
    key: list[str] | None = Field(
        default=None, description="batch key columns (default: the primary key)"
    )
    batch_size: int | Literal["auto"] = "auto"
    target_batch_ms: int = Field(default=100, gt=0)
    pause_ms: int = Field(default=0, ge=0)
    max_rows_per_second: int | None = Field(default=None, gt=0)
    lock_timeout: PgTimeout | None = None
    statement_timeout: PgTimeout | None = None
    max_replication_lag: Duration | None = None
    max_replication_lag_bytes: int | None = Field(
        default=None, gt=0, description="wait while a standby has more WAL than this to replay"
    )
    max_slot_retained_wal_bytes: int | None = Field(
        default=None, gt=0, description="wait while a replication slot retains more WAL than this"
    )
    max_wal_bytes_per_second: int | None = Field(
        default=None, gt=0, description="pause while the server's WAL rate is above this"
    )
    workers: int | Literal["auto"] = Field(
        default=1, description="connections filling disjoint key ranges at once (or 'auto')"
    )

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value <= 0:
            raise ValueError("batch_size must be a positive number of rows or 'auto'")
        return value

    @field_validator("workers")
    @classmethod
    def _sane_workers(cls, value: int | str) -> int | str:
        return check_workers(value)

    @field_validator("key")
    @classmethod
    def _non_empty_key(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("key must name at least one column (or be left out)")
        return value
