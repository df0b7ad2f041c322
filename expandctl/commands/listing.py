"""``expandctl list``: the migrations found on disk."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from expandctl.loader.migrations import load_migrations
from expandctl.model.config import ResolvedConfig


class MigrationSummary(BaseModel):
    id: str
    description: str
    requires: list[str]
    files: list[str]
    operations: int
    backfills: int


class MigrationList(BaseModel):
    directory: str
    migrations: list[MigrationSummary]


def list_migrations(config: ResolvedConfig) -> MigrationList:
    migration_set = load_migrations(Path(config.migrations_path))
    return MigrationList(
        directory=migration_set.directory,
        migrations=[
            MigrationSummary(
                id=m.id,
                description=m.description,
                requires=list(m.manifest.requires),
                files=sorted(m.sql_files),
                operations=len(m.manifest.operations),
                backfills=len(m.manifest.backfill),
            )
            for m in migration_set.migrations
        ],
    )
