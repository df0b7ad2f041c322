"""The fixtures themselves: a real server, a fresh database per test, dropped after."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests.conftest import PgDatabase
from tests.pg_provider import NoServer, Server, fresh_database, start_server

_seen_names: list[str] = []


def _database_exists(server: Server, name: str) -> bool:
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return bool(row and row[0])


def test_each_database_is_new_and_empty(pg_database: PgDatabase) -> None:
    with pg_database.connect() as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE leftover (id int)")
        conn.commit()
    _seen_names.append(pg_database.name)


def test_the_next_test_gets_another_database(pg_database: PgDatabase) -> None:
    assert _seen_names, "runs after test_each_database_is_new_and_empty"
    assert pg_database.name != _seen_names[0]
    assert not _database_exists(pg_database.server, _seen_names[0])
    with pg_database.connect() as conn:
        assert conn.execute("SELECT to_regclass('leftover')").fetchone() == (None,)


def test_fresh_database_is_dropped_even_while_connected(pg_server: Server) -> None:
    with fresh_database(pg_server) as name:
        assert _database_exists(pg_server, name)
        lingering = psycopg.connect(pg_server.dsn_for(name))
    try:
        assert not _database_exists(pg_server, name)
    finally:
        lingering.close()


def test_server_is_a_real_postgresql(pg_server: Server) -> None:
    with psycopg.connect(pg_server.admin_dsn) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
    assert version is not None and int(str(version[0])) // 10000 == pg_server.version
    assert pg_server.version >= 13


def test_testcontainers_backend_is_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a Docker engine the path reports why; with one it starts a server."""
    monkeypatch.setenv("EXPANDCTL_TEST_BACKEND", "testcontainers")
    monkeypatch.setenv("DOCKER_HOST", os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    try:
        server = start_server()
    except NoServer as exc:
        assert "Docker" in str(exc) or "testcontainers" in str(exc)
        pytest.skip(f"testcontainers backend unavailable here: {exc}")
    try:
        assert server.backend == "testcontainers" and server.version >= 13
    finally:
        server.stop()


def test_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPANDCTL_TEST_BACKEND", "sqlite")
    with pytest.raises(NoServer, match="use one of dsn, embedded, testcontainers"):
        start_server()
