"""Gates waiting for the other migration tool: an Alembic revision or a Django migration.

Read from the tool's own bookkeeping tables, read-only: ``alembic_version``
(the current heads; a revision below a head counts as applied, which the
revision files tell) and ``django_migrations`` (one row per applied
migration). expandctl's own state lives in its own schema, so the tables
never collide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from expandctl.engine.connection import Connection
from expandctl.errors import ConfigError
from expandctl.loader.alembic_graph import ancestors, revision_graph
from expandctl.model.config import Settings
from expandctl.model.durations import format_duration
from expandctl.model.steps import GateCheck

DEFAULT_ALEMBIC_CONFIG = "alembic.ini"


def tool_gate_problem(conn: Connection, gate: GateCheck, settings: Settings) -> str | None:
    """Why the revision is not applied yet, or None when it is."""
    assert gate.target is not None
    try:
        if gate.kind == "django_migration":
            return _django_problem(conn, gate.target, settings)
        return _alembic_problem(conn, gate, settings)
    except psycopg.Error as exc:
        return f"reading the {gate.kind.split('_')[0]} table failed: {' '.join(str(exc).split())}"


def _django_problem(conn: Connection, target: str, settings: Settings) -> str | None:
    app, name = target.split(".", 1)
    exists = _read(conn, settings, "SELECT to_regclass('django_migrations') IS NOT NULL", ())
    if not exists or not exists[0][0]:  # checked first: a query naming it would not parse
        return "no django_migrations table: Django has not migrated this database"
    rows = _read(
        conn,
        settings,
        "SELECT EXISTS (SELECT 1 FROM django_migrations WHERE app = %s AND name = %s)",
        (app, name),
    )
    applied = bool(rows and rows[0][0])
    if applied:
        return None
    return f"Django migration {target} is not applied yet (python manage.py migrate {app} {name})"


def _alembic_problem(conn: Connection, gate: GateCheck, settings: Settings) -> str | None:
    target = gate.target or ""
    exists = _read(conn, settings, "SELECT to_regclass('alembic_version') IS NOT NULL", ())
    if not exists or not exists[0][0]:
        return "no alembic_version table: Alembic has not migrated this database"
    heads = [
        str(r[0]) for r in _read(conn, settings, "SELECT version_num FROM alembic_version", ())
    ]
    if target in heads:
        return None
    shown = ", ".join(heads) or "nothing"
    config = Path(gate.alembic_config or DEFAULT_ALEMBIC_CONFIG)
    try:
        graph = revision_graph(config)
    except ConfigError as exc:
        return (
            f"alembic_version holds {shown}, and whether {target} lies below it is unknown: "
            f"{exc.message} (set alembic_config in the gate)"
        )
    if target not in graph:
        return f"Alembic revision {target} is not among the revision files of {config}"
    if target in ancestors(graph, heads):
        return None
    return f"Alembic revision {target} is not applied yet: alembic_version holds {shown}"


def _read(conn: Connection, settings: Settings, query: str, params: tuple[Any, ...]) -> list[Any]:
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(
            "SELECT set_config('statement_timeout', %s, true)",
            (format_duration(settings.statement_timeout),),
        )
        return conn.execute(query, params).fetchall()
