"""Pure data the backfill runner reports: progress, result, checkpoint view.

These are what ``status``, ``advance`` and the CLI display; no database here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class BackfillProgress(BaseModel):
    """One tick of a running backfill, sent to the progress callback after each batch."""

    model_config = ConfigDict(frozen=True)

    migration_id: str
    index: int
    table: str
    rows_done: int  # rows updated so far (this and earlier runs of the same pass)
    rows_scanned: int  # key range covered so far, in rows
    rows_estimate: int  # pg_class.reltuples at start, corrected upwards as we go
    rows_per_second: float
    eta_seconds: float | None
    batch_size: int
    last_batch_ms: float
    paused: bool = False
    throttled_reason: str | None = None  # "paused", "replication lag ...", "rate cap"
    workers: int = 1  # workers filling ranges at once; the figures add them all up

    @property
    def fraction(self) -> float:
        if self.rows_estimate <= 0:
            return 0.0
        return min(1.0, self.rows_scanned / self.rows_estimate)


class BackfillResult(BaseModel):
    """What one ``run_backfill`` call did."""

    model_config = ConfigDict(frozen=True)

    migration_id: str
    index: int
    table: str
    key: list[str]
    rows_updated: int  # in this call
    rows_done: int  # in the whole pass, including earlier interrupted calls
    batches: int  # in this call
    retries: int  # batches redone after lock/statement timeout, deadlock, serialization
    seconds: float
    rows_per_second: float
    batch_ms_median: float
    batch_ms_max: float
    resumed: bool  # started from a checkpoint left by an interrupted run
    remaining: int  # rows still matching ``where`` after the last batch (0 = verified)
    workers: int = 1  # workers that filled the pass in this call (1: no ranges)


class BackfillCheckpoint(BaseModel):
    """A checkpoint row as ``status`` shows it."""

    model_config = ConfigDict(frozen=True)

    migration_id: str
    index: int
    table: str
    key: list[str]
    last_key: list[str] | None  # text form of the last key done; None = not started
    end_key: list[str] | None  # the fixed upper bound of this pass
    pass_number: int
    rows_done: int
    rows_estimate: int
    batches: int
    retries: int
    last_batch_size: int
    last_batch_ms: float
    rows_per_second: float
    paused: bool
    finished: bool
    remaining: int | None  # rows still matching ``where`` at the last verification
    workers: int = 1  # workers the pass was split for; 1 = one worker
    ranges: int = 0  # key ranges of a parallel pass (several per worker); 0 = none
    started_at: datetime | None
    updated_at: datetime | None
    finished_at: datetime | None


class BackfillDryRun(BaseModel):
    """One batch run and rolled back: what it would do and how long it held its rows."""

    model_config = ConfigDict(frozen=True)

    index: int
    table: str
    key: list[str]
    batch_size: int
    rows_scanned: int
    rows_matched: int  # rows the batch would have updated
    batch_ms: float
    rows_remaining: int  # whole table, still matching ``where``
    statement: str
