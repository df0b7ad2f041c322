"""What the database records about migrations: rows of the state and event tables."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from expandctl.model.phases import Phase, State
from expandctl.model.steps import Direction

# The layout of the state schema this expandctl writes; bumped on any change.
# 2: the fencing lease table; an expandctl that knows only 1 must not write unfenced.
# 3: the lane table (a backfilling run hands the schema lock back and is fenced per
#    migration), and backfill_ranges (the per-worker checkpoints of a parallel
#    backfill); an expandctl that knows only 2 would see neither.
STATE_LAYOUT_VERSION = 3


class Actor(BaseModel):
    """Who ran a command: recorded with every event and phase."""

    model_config = ConfigDict(frozen=True)

    os_user: str
    host: str
    version: str  # expandctl version
    pid: int

    def __str__(self) -> str:
        return f"{self.os_user}@{self.host}"


class PhaseRecord(BaseModel):
    """When a phase last ran forward, by whom, and what its files were then."""

    model_config = ConfigDict(frozen=True)

    started_at: datetime
    finished_at: datetime
    by: str  # "user@host"
    checksum: str
    # One checksum per file the phase read (empty in rows of expandctl 0.1):
    # a drift message names the files whose checksum changed.
    file_checksums: dict[str, str] = Field(default_factory=dict)


class InProgress(BaseModel):
    """A phase that started and has not finished: crashed, killed or still running."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    direction: Direction
    next_step: int  # steps before this index are recorded done
    total_steps: int
    checksum: str  # the phase's files when it started
    started_at: datetime
    by: str
    # step_checksum() of every step when it started: a resume may run edited
    # steps that have not run yet, never edited ones that have. Empty in rows
    # written by expandctl 0.1.0, which compare the whole phase's checksum instead.
    step_checksums: tuple[str, ...] = ()
    file_checksums: dict[str, str] = Field(default_factory=dict)  # as in PhaseRecord


class MigrationRecord(BaseModel):
    """One row of ``<schema>.migrations``."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: State = State.PENDING
    phases: dict[Phase, PhaseRecord] = Field(default_factory=dict)
    in_progress: InProgress | None = None
    updated_at: datetime | None = None


class Event(BaseModel):
    """One row of the append-only ``<schema>.events`` log."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    migration_id: str | None
    phase: Phase | None
    direction: Direction | None
    action: str  # "phase", "step", "retry", "gate", ...
    outcome: str  # "started", "ok", "failed", "retry", "refused"
    duration_ms: int | None
    os_user: str
    host: str
    version: str
    pid: int | None
    detail: str | None  # what, in words (a step summary, a gate, an error — redacted)
