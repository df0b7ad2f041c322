"""The ``[backfill]`` section: which rows of which table to fill, and how gently."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from expandctl.model.durations import Duration, PgTimeout
from expandctl.model.sql_slots import SqlText

_QUERY = re.compile(r"\s*(select|with)\b", re.IGNORECASE)


def _as_expression(value: object) -> object:
    """``SELECT count(*) < 50 FROM ...`` reads as the scalar subquery it means."""
    if isinstance(value, str) and _QUERY.match(value):
        return f"({value.strip()})"
    return value


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
    # Health (docs/backfill.md "Health"): checked between batches like the limits above.
    pause_on_vacuum: bool = Field(
        default=True,
        description="wait while a VACUUM (autovacuum, anti-wraparound, manual) works on the table",
    )
    pause_on_lock_waits: bool = Field(
        default=True, description="wait after a batch that made other sessions wait for its locks"
    )
    health_check: Annotated[SqlText | None, BeforeValidator(_as_expression)] = Field(
        default=None,
        description="a boolean SQL expression or SELECT; the backfill waits while it is not true",
    )
    workers: int | Literal["auto"] = Field(
        default=1, description="connections filling disjoint key ranges at once (or 'auto')"
    )
    workers_when_busy: int = Field(
        default=1,
        ge=1,
        le=MAX_WORKERS,
        description="workers in a batch at once while other sessions are working",
    )
    quiet_batch_ms: int = Field(
        default=100,
        gt=0,
        description="a parallel pass's batch target while no other session works"
        " (never below target_batch_ms)",
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

    @model_validator(mode="after")
    def _busy_workers_exist(self) -> BackfillSpec:
        # With workers = "auto" the count is known only at run time: capped there.
        if isinstance(self.workers, int) and self.workers_when_busy > self.workers:
            raise ValueError(
                f"workers_when_busy ({self.workers_when_busy}) is more than workers "
                f"({self.workers}): at most {self.workers} can run at once; lower "
                "workers_when_busy or raise workers"
            )
        return self
