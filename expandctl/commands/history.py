"""``expandctl history``: the append-only event log, oldest first."""

from __future__ import annotations

from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set, require_migration
from expandctl.engine.session import read_session
from expandctl.errors import ExpandctlError, UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.migration import MigrationSet
from expandctl.model.state import Event


class HistoryReport(BaseModel):
    migration_id: str | None
    events: list[Event]
    missing: list[str] = Field(
        default_factory=list,
        description="recorded migrations (in these events) whose folder is not on disk",
    )


def history(
    config: ResolvedConfig, migration_id: str | None = None, *, limit: int | None = None
) -> HistoryReport:
    # The log is the record of what happened: it must read even when the folders
    # are broken or gone, so the migrations directory is only consulted, never required.
    migrations = _migrations_or_none(config)
    with read_session(config) as session:
        recorded = session.store.load(session.control)
        if migration_id is not None and migration_id.isdigit():
            # "3" or "0003" means the migration with that number, as in the other commands.
            migration_id = _by_number(migrations, list(recorded), migration_id)
        events = session.store.events(session.control, migration_id, limit)
    known = migration_id is None or bool(events) or migration_id in recorded
    if not known:
        # A typo would otherwise read as "nothing ever happened to it".
        assert migration_id is not None
        if migrations is None:
            raise UsageError(f"no migration {migration_id!r} recorded in the database")
        require_migration(migrations, migration_id)
    on_disk = set(migrations.ids) if migrations is not None else set(recorded)
    return HistoryReport(
        migration_id=migration_id,
        events=events,
        missing=sorted(mid for mid in recorded if mid not in on_disk),
    )


def _migrations_or_none(config: ResolvedConfig) -> MigrationSet | None:
    try:
        return load_set(config, state_read=True)
    except ExpandctlError:
        return None


def _by_number(migrations: MigrationSet | None, recorded: list[str], number: str) -> str:
    """The id on disk with that number, else a recorded one whose folder is gone."""
    if migrations is not None:
        found = next((m.id for m in migrations.migrations if m.number == int(number)), None)
        if found is not None:
            return found
    gone = next(
        (
            mid
            for mid in recorded
            if mid.split("_", 1)[0].isdigit() and int(mid.split("_", 1)[0]) == int(number)
        ),
        None,
    )
    if gone is not None:
        return gone
    if migrations is not None:
        return require_migration(migrations, number).id
    raise UsageError(f"no migration numbered {number} on disk or recorded")
