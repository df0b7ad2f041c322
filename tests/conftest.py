"""Shared fixtures: a real PostgreSQL, a fresh database per test, a CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from tests.pg_provider import NoServer, Server, fresh_database, start_server

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PgDatabase:
    name: str
    dsn: str  # key=value conninfo for psycopg
    url: str  # postgresql:// URL for the CLI and config
    server: Server

    def connect(self, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn, **kwargs)  # type: ignore[arg-type]


_servers_used: list[str] = []


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """Started on first use only: tests that need no database never start one."""
    try:
        server = start_server()
    except NoServer as exc:
        pytest.skip(f"no PostgreSQL for the tests: {exc}")
    with psycopg.connect(server.admin_dsn) as conn:
        full_version = conn.execute("SHOW server_version").fetchone()
    _servers_used.append(
        f"PostgreSQL {full_version[0] if full_version else '?'} ({server.backend})"
    )
    yield server
    server.stop()


@pytest.fixture
def pg_database(pg_server: Server) -> Iterator[PgDatabase]:
    with fresh_database(pg_server) as name:
        yield PgDatabase(
            name=name, dsn=pg_server.dsn_for(name), url=pg_server.url_for(name), server=pg_server
        )


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which server the database tests ran against, so CI output shows it."""
    used = ", ".join(_servers_used) or "none (no test needed a database)"
    terminalreporter.write_line(f"expandctl tests ran against: {used}")


def pytest_report_header(config: pytest.Config) -> str:
    import os

    backend = os.environ.get("EXPANDCTL_TEST_BACKEND") or (
        "dsn" if os.environ.get("EXPANDCTL_TEST_DSN") else "embedded (default)"
    )
    return f"expandctl test PostgreSQL backend: {backend}"
