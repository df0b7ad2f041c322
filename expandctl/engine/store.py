"""The state schema: a versioned layout, one row per migration, an append-only log.

Every identifier is the configured schema name quoted with sql.Identifier.
Writes that must be atomic with DDL take the caller's open transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from expandctl.engine import layout
from expandctl.engine.connection import Connection
from expandctl.errors import StateError
from expandctl.model.phases import Phase, State
from expandctl.model.redact import redact
from expandctl.model.state import (
    STATE_LAYOUT_VERSION,
    Actor,
    Event,
    InProgress,
    MigrationRecord,
    PhaseRecord,
)
from expandctl.model.steps import Direction

WAIT_ACTION = "backfill-wait"


@dataclass(frozen=True)
class BackfillWait:
    reason: str  # "waiting: autovacuum (to prevent wraparound) on public.users, ..."
    since: datetime


class StateStore:
    """Reads and writes ``<schema>.migrations`` and ``<schema>.events``."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._s = sql.Identifier(schema)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._s)

    # --- layout ---

    def exists(self, conn: Connection) -> bool:
        return layout.state_exists(conn, self.schema)

    def layout_version(self, conn: Connection) -> int | None:
        if not self.exists(conn):
            return None
        row = conn.execute(self._q("SELECT max(version) FROM {s}.schema_version")).fetchone()
        version = row[0] if row else None
        if version is not None and version > STATE_LAYOUT_VERSION:
            raise StateError(
                f"state schema {self.schema!r} has layout version {version}, newer than this "
                f"expandctl knows ({STATE_LAYOUT_VERSION})",
                hint="upgrade expandctl; an older one must not write to it",
            )
        return int(version) if version is not None else None

    def ensure(self, conn: Connection, actor: Actor) -> None:
        """Create or upgrade the layout; call with the advisory lock held, in a transaction."""
        with conn.transaction():
            self.layout_version(conn)  # refuses a layout newer than this expandctl
            layout.ensure(conn, self.schema)

    # --- migrations ---

    def load(self, conn: Connection) -> dict[str, MigrationRecord]:
        if self.layout_version(conn) is None:
            return {}
        rows = conn.execute(
            self._q("SELECT id, state, phases, in_progress, updated_at FROM {s}.migrations")
        ).fetchall()
        return {row[0]: _record(row) for row in rows}

    def load_one(self, conn: Connection, migration_id: str) -> MigrationRecord:
        row = conn.execute(
            self._q(
                "SELECT id, state, phases, in_progress, updated_at FROM {s}.migrations"
                " WHERE id = %s"
            ),
            (migration_id,),
        ).fetchone()
        return _record(row) if row else MigrationRecord(id=migration_id)

    def mark_started(self, conn: Connection, migration_id: str, progress: InProgress) -> None:
        conn.execute(
            self._q(
                "INSERT INTO {s}.migrations AS m (id, in_progress) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET in_progress = EXCLUDED.in_progress, "
                "updated_at = now()"
            ),
            (migration_id, Jsonb(progress.model_dump(mode="json"))),
        )

    def mark_step(self, conn: Connection, migration_id: str, next_step: int) -> None:
        conn.execute(
            self._q(
                "UPDATE {s}.migrations SET updated_at = now(), in_progress = "
                "jsonb_set(in_progress, '{{next_step}}', to_jsonb(%s::int)) WHERE id = %s"
            ),
            (next_step, migration_id),
        )

    def mark_finished(
        self,
        conn: Connection,
        migration_id: str,
        *,
        state: State,
        phases: dict[Phase, PhaseRecord],
    ) -> None:
        blob = {p.value: r.model_dump(mode="json") for p, r in phases.items()}
        conn.execute(
            self._q(
                "UPDATE {s}.migrations SET state = %s, phases = %s, in_progress = NULL, "
                "updated_at = now() WHERE id = %s"
            ),
            (state.value, Jsonb(blob), migration_id),
        )

    def now(self, conn: Connection) -> datetime:
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        value: datetime = row[0]
        return value

    # --- events ---

    def append_event(
        self,
        conn: Connection,
        actor: Actor,
        *,
        action: str,
        outcome: str,
        migration_id: str | None = None,
        phase: Phase | None = None,
        direction: Direction | None = None,
        duration_ms: int | None = None,
        detail: str | None = None,
        secrets: tuple[str | None, ...] = (),
    ) -> None:
        conn.execute(
            self._q(
                "INSERT INTO {s}.events (migration_id, phase, direction, action, outcome, "
                "duration_ms, os_user, host, version, pid, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                migration_id,
                phase.value if phase else None,
                direction.value if direction else None,
                action,
                outcome,
                duration_ms,
                actor.os_user,
                actor.host,
                actor.version,
                actor.pid,
                redact(detail, *secrets) if detail else None,
            ),
        )

    # --- backfill waits (docs/backfill.md "Health") ---

    def append_wait(
        self,
        conn: Connection,
        actor: Actor,
        *,
        migration_id: str,
        outcome: str,
        waited_ms: int,
        reason: str,
    ) -> None:
        """A backfill pause: ``waiting`` once it lasted a moment, ``resumed`` when it ended."""
        self.append_event(
            conn,
            actor,
            action=WAIT_ACTION,
            outcome=outcome,
            migration_id=migration_id,
            phase=Phase.BACKFILL,
            duration_ms=waited_ms,
            detail=reason,
        )

    def current_waits(self, conn: Connection, migration_ids: list[str]) -> dict[str, BackfillWait]:
        """Of ``migration_ids``, those whose last wait record says a backfill is waiting."""
        if not migration_ids or self.layout_version(conn) is None:
            return {}
        rows = conn.execute(
            self._q(
                "SELECT m.id, e.outcome, e.detail,"
                " e.at - make_interval(secs => coalesce(e.duration_ms, 0) / 1000.0)"
                " FROM unnest(%s::text[]) AS m(id) CROSS JOIN LATERAL ("
                " SELECT outcome, detail, at, duration_ms FROM {s}.events"
                " WHERE migration_id = m.id AND action = %s ORDER BY id DESC LIMIT 1) e"
            ),
            (migration_ids, WAIT_ACTION),
        ).fetchall()
        return {
            mid: BackfillWait(reason=detail or "", since=since)
            for mid, outcome, detail, since in rows
            if outcome == "waiting"
        }

    def events(
        self, conn: Connection, migration_id: str | None = None, limit: int | None = None
    ) -> list[Event]:
        if self.layout_version(conn) is None:
            return []
        # Newest first with a LIMIT, then back to oldest first: cheap on a long log.
        query = self._q(
            "SELECT id, at, migration_id, phase, direction, action, outcome, duration_ms, "
            "os_user, host, version, pid, detail FROM {s}.events "
            "WHERE (%s::text IS NULL OR migration_id = %s) ORDER BY id DESC LIMIT %s"
        )
        rows = conn.execute(query, (migration_id, migration_id, limit)).fetchall()[::-1]
        names = list(Event.model_fields)
        return [Event.model_validate(dict(zip(names, row, strict=True))) for row in rows]


def _record(row: Any) -> MigrationRecord:
    migration_id, state, phases, in_progress, updated_at = row
    phases = json.loads(phases) if isinstance(phases, str) else phases
    return MigrationRecord(
        id=migration_id,
        state=State(state),
        phases={Phase(k): PhaseRecord.model_validate(v) for k, v in (phases or {}).items()},
        in_progress=InProgress.model_validate(in_progress) if in_progress else None,
        updated_at=updated_at,
    )
