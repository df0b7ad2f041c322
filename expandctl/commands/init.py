"""``expandctl init``: an administrator creates the state schema once and grants a deploy role.

Everything happens in one transaction, so a failure (a role that does not
exist, a missing privilege) changes nothing. ``print_sql`` walks the very same
path and stops before executing: what it prints is what init would run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import sql
from pydantic import BaseModel, Field

from expandctl.engine import layout
from expandctl.engine.connection import (
    Connection,
    connect_url,
    current_actor,
    database_error,
    database_url,
)
from expandctl.engine.store import StateStore
from expandctl.errors import ConfigError, UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.durations import format_duration
from expandctl.model.state import STATE_LAYOUT_VERSION


class InitReport(BaseModel):
    state_schema: str
    layout_version: int
    applied: bool = Field(description="false with --print-sql: nothing was run")
    created: list[str] = Field(description="objects that were missing, e.g. 'table events'")
    deploy_roles: list[str] = Field(description="roles granted what advance/rollback need")
    read_roles: list[str] = Field(description="roles granted read access (status, history)")
    statements: list[str] = Field(description="the SQL, in the order it runs")


def init(
    config: ResolvedConfig,
    *,
    grant: Sequence[str] = (),
    grant_read: Sequence[str] = (),
    print_sql: bool = False,
) -> InitReport:
    schema = config.settings.state_schema
    url = database_url(config)
    with _database_errors(url), connect_url(url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "SELECT set_config('lock_timeout', %s, true)",
            (format_duration(config.settings.lock_timeout),),
        )
        layout.lock_layout(conn, schema)
        catalog = layout.probe(conn, schema)
        _require_roles(conn, [*grant, *grant_read])
        _require_ownership(conn, catalog)
        todo = catalog.missing()
        if todo:
            # An upgrade adds tables: roles granted before get the same on them.
            kept = layout.grantees(conn, schema)
            grant = _merge(grant, [r for r, deploy in kept.items() if deploy])
            grant_read = _merge(grant_read, [r for r, deploy in kept.items() if not deploy])
        statements = layout.create_statements(schema, todo)
        for role in grant:
            statements += layout.grant_statements(schema, role)
        for role in grant_read:
            statements += layout.grant_statements(schema, role, read_only=True)
        report = InitReport(
            state_schema=schema,
            layout_version=STATE_LAYOUT_VERSION,
            applied=not print_sql,
            created=[o.label(schema) for o in todo],
            deploy_roles=list(grant),
            read_roles=list(grant_read),
            statements=[s.as_string(conn) for s in statements],
        )
        if not print_sql:  # the one difference: everything above ran for both
            _run(conn, catalog, statements)
            if statements:
                _record(conn, schema, report)
    return report


def _merge(named: Sequence[str], kept: list[str]) -> list[str]:
    return list(dict.fromkeys([*named, *kept]))


def _require_roles(conn: Connection, roles: list[str]) -> None:
    """Every role must exist before anything runs: a typo changes nothing."""
    if not roles:
        return
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (roles,))
    known = {row[0] for row in rows.fetchall()}
    unknown = [r for r in roles if r not in known]
    if unknown:
        raise UsageError(
            f"no role {unknown[0]!r} in this PostgreSQL cluster",
            hint="check the spelling, or create it first: CREATE ROLE "
            f"{sql.Identifier(unknown[0]).as_string(conn)} LOGIN",
        )


def _require_ownership(conn: Connection, catalog: layout.Catalog) -> None:
    """A GRANT by a non-owner only warns 'no privileges were granted': refuse up front."""
    foreign = layout.foreign_owners(conn, catalog.schema)
    if foreign:
        name, owner = next(iter(foreign.items()))
        raise ConfigError(
            f"role {catalog.role} does not own {catalog.schema}.{name} (owner: {owner}), "
            "so it cannot grant on it",
            hint=f"run 'expandctl init' as {owner} or a superuser",
        )


def _run(conn: Connection, catalog: layout.Catalog, statements: list[sql.Composed]) -> None:
    try:
        for statement in statements:
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(
            f"role {catalog.role} cannot set up the state schema {catalog.schema} ({detail})",
            hint="run 'expandctl init' as a role with CREATE on the database that owns "
            f"the schema, or a superuser (see {layout.DOCS})",
        ) from None


def _record(conn: Connection, schema: str, report: InitReport) -> None:
    """Who set up or changed the state schema belongs in the audit log like any phase."""
    parts = []
    if report.created:
        parts.append("created " + ", ".join(report.created))
    if report.deploy_roles:
        parts.append("granted deploy to " + ", ".join(report.deploy_roles))
    if report.read_roles:
        parts.append("granted read to " + ", ".join(report.read_roles))
    StateStore(schema).append_event(
        conn, current_actor(), action="init", outcome="done", detail="; ".join(parts) or None
    )


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise database_error("PostgreSQL error", exc, url) from None
