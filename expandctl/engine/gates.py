"""Evaluate ``[gates.<phase>]`` before a phase runs; a gate that does not hold is a refusal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from expandctl.engine.connection import Connection
from expandctl.engine.tool_gates import tool_gate_problem
from expandctl.model.config import Settings
from expandctl.model.durations import format_duration
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import GateCheck, PhasePlan


@dataclass(frozen=True)
class GateStatus:
    """One gate of a phase and whether it holds right now."""

    summary: str
    kind: str
    problem: str | None  # why it does not hold; None when it holds (or was not checked)
    checked: bool = True  # False: shown only (offline, resuming)


def gate_statuses(
    conn: Connection, plan: PhasePlan, record: MigrationRecord, settings: Settings, now: datetime
) -> list[GateStatus]:
    """Every gate of the phase, evaluated now; SQL gates run in a READ ONLY transaction."""
    return [
        GateStatus(gate.summary, gate.kind, _check(conn, gate, record, settings, now))
        for gate in plan.gates
    ]


def _check(
    conn: Connection, gate: GateCheck, record: MigrationRecord, settings: Settings, now: datetime
) -> str | None:
    if gate.kind == "min_soak":
        return soak_problem(gate, record, now)
    if gate.kind in ("alembic_revision", "django_migration"):
        return tool_gate_problem(conn, gate, settings)
    assert gate.sql is not None
    query = " ".join(gate.sql.split())
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                (format_duration(settings.statement_timeout),),
            )
            row = conn.execute(sql.SQL(gate.sql)).fetchone()
    except psycopg.Error as exc:
        return f"the query failed ({' '.join(str(exc).split())}): {query}"
    value = row[0] if row else None
    if value is True:
        return None
    return f"the query returned {value!r}, not true: {query}"


def soak_problem(gate: GateCheck, record: MigrationRecord, now: datetime) -> str | None:
    """Why a min_soak gate does not hold yet, or None; pure, so ``plan`` can show it."""
    if gate.min_soak is None or gate.since_phase is None:
        return None  # expand has no previous phase to soak after
    done = record.phases.get(gate.since_phase)
    if done is None:
        return f"{gate.since_phase.value} has no recorded finish"
    soaked = now - done.finished_at
    if soaked >= gate.min_soak:
        return None
    left = gate.min_soak - soaked
    return (
        f"{gate.since_phase.value} finished {human(soaked)} ago, "
        f"needs {format_duration(gate.min_soak)} ({human(left)} to go)"
    )


def human(delta: timedelta) -> str:
    """``1h 5min``, ``42s``: the two largest units, for people reading a refusal."""
    seconds = max(0, int(delta.total_seconds()))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])
