"""``expandctl history``: the append-only event log, oldest first."""

from __future__ import annotations

from pydantic import BaseModel

from expandctl.engine.session import read_session
from expandctl.model.config import ResolvedConfig
from expandctl.model.state import Event


class HistoryReport(BaseModel):
    migration_id: str | None
    events: list[Event]


def history(
    config: ResolvedConfig, migration_id: str | None = None, *, limit: int | None = None
) -> HistoryReport:
    with read_session(config) as session:
        events = session.store.events(session.control, migration_id, limit)
    return HistoryReport(migration_id=migration_id, events=events)
