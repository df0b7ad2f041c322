"""A migration as loaded from disk: its id, manifest, SQL files and checksums."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from expandctl.model.manifest import Manifest
from expandctl.model.phases import Phase
from expandctl.model.sqlfiles import SqlFile


class Migration(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str  # the folder name, e.g. "0002_add_users_nickname"
    number: int  # the numeric prefix; migrations run in this order
    slug: str
    path: str  # the folder
    manifest: Manifest
    sql_files: dict[str, SqlFile]  # by file name
    checksum: str  # every file of the folder
    phase_checksums: dict[Phase, str]  # what each phase runs, for drift detection
    # Per phase, one checksum per file it reads (names a drift's changed files).
    file_checksums: dict[Phase, dict[str, str]] = Field(default_factory=dict)
    # What expandctl 0.1 recorded (raw text): still accepted while the files are unchanged.
    legacy_phase_checksums: dict[Phase, str] = Field(default_factory=dict)

    def checksum_matches(self, phase: Phase, recorded: str) -> bool:
        """The phase's files are as they were when ``recorded`` was taken (either format)."""
        return recorded in (self.phase_checksums[phase], self.legacy_phase_checksums.get(phase))

    @property
    def description(self) -> str:
        return self.manifest.description

    def forward_sql(self, phase: Phase) -> SqlFile | None:
        return next(
            (f for f in self.sql_files.values() if f.phase is phase and not f.rollback), None
        )

    def rollback_sql(self, phase: Phase) -> SqlFile | None:
        return next((f for f in self.sql_files.values() if f.phase is phase and f.rollback), None)


class MigrationSet(BaseModel):
    """Every migration of a migrations directory, in order."""

    model_config = ConfigDict(frozen=True)

    directory: str
    migrations: tuple[Migration, ...]

    def get(self, migration_id: str) -> Migration | None:
        return next((m for m in self.migrations if m.id == migration_id), None)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.migrations]

    @property
    def next_number(self) -> int:
        return max((m.number for m in self.migrations), default=0) + 1
