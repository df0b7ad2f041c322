"""The raw SQL files a migration folder may hold, and which phase each belongs to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from expandctl.model.phases import Phase

# Backfill has no SQL file: it is described by [backfill] and run in batches.
FORWARD_FILES: dict[str, Phase] = {
    "expand.sql": Phase.EXPAND,
    "switch-reads.sql": Phase.SWITCH_READS,
    "switch-writes.sql": Phase.SWITCH_WRITES,
    "contract.sql": Phase.CONTRACT,
}
# Contract has no rollback: it is the point of no return.
ROLLBACK_FILES: dict[str, Phase] = {
    "expand.down.sql": Phase.EXPAND,
    "switch-reads.down.sql": Phase.SWITCH_READS,
    "switch-writes.down.sql": Phase.SWITCH_WRITES,
}
SQL_FILE_NAMES: tuple[str, ...] = (*FORWARD_FILES, *ROLLBACK_FILES)


class SqlFile(BaseModel):
    """One phase file's text, with where it came from (for file:line messages)."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: str
    text: str
    phase: Phase
    rollback: bool
