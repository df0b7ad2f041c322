"""Open connections that say who they are and never leak a password."""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

import psycopg

from expandctl import __version__
from expandctl.engine.embedded import embedded_url
from expandctl.errors import ConfigError, DatabaseError
from expandctl.model.config import ResolvedConfig
from expandctl.model.redact import password_of, redact
from expandctl.model.state import Actor

APPLICATION_NAME = "expandctl"
CONNECT_TIMEOUT_S = 10

Connection = psycopg.Connection[Any]


def database_url(config: ResolvedConfig) -> str:
    if config.embedded:
        return embedded_url(config.project_root)
    if not config.database_url:
        raise ConfigError(
            "no database to talk to",
            hint=f"set {config.settings.database_url_env} or EXPANDCTL_DATABASE_URL, "
            "pass --database-url, or try --embedded",
        )
    return config.database_url


def connect_url(url: str, *, autocommit: bool = False) -> Connection:
    try:
        return psycopg.connect(
            url,
            autocommit=autocommit,
            application_name=APPLICATION_NAME,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    except psycopg.Error as exc:
        raise database_error("cannot connect to PostgreSQL", exc, url) from None


def connect(config: ResolvedConfig, *, autocommit: bool = False) -> Connection:
    return connect_url(database_url(config), autocommit=autocommit)


def database_error(what: str, exc: BaseException, url: str | None = None) -> DatabaseError:
    """A one-line DatabaseError whose text never holds the password."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return DatabaseError(redact(f"{what}: {detail}", password_of(url)))


def current_actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return Actor(os_user=user, host=socket.gethostname(), version=__version__, pid=os.getpid())


def server_major(conn: Connection) -> int:
    return conn.info.server_version // 10000
