"""``expandctl history``: the append-only event log, oldest first."""

from __future__ import annotations

from pydantic import BaseModel

from expandctl.commands.advance import load_set, require_migration
from expandctl.engine.session import read_session
from expandctl.model.config import ResolvedConfig
from expandctl.model.state import Event


class HistoryReport(BaseModel):
    migration_id: str | None
    events: list[Event]


def history(
    config: ResolvedConfig, migration_id: str | None = None, *, limit: int | None = None
) -> HistoryReport:
    if migration_id is not None and migration_id.isdigit():
        # "3" or "0003" means the migration with that number, as in the other commands.
        migration_id = require_migration(load_set(config), migration_id).id
    with read_session(config) as session:
        events = session.store.events(session.control, migration_id, limit)
        known = migration_id is None or bool(events) or migration_id in session.records()
    if not known:
        # A typo would otherwise read as "nothing ever happened to it".
        assert migration_id is not None
        require_migration(load_set(config), migration_id)
    return HistoryReport(migration_id=migration_id, events=events)
