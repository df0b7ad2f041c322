"""Open connections that say who they are and never leak a password."""

from __future__ import annotations

import getpass
import logging
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
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


class _OnlyWhenDebugging(logging.Filter):
    """psycopg warns about what we already handle (a rollback on a connection that died):
    on stderr that is noise after our one-line error. Shown with -vv (root at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return logging.getLogger().isEnabledFor(logging.DEBUG)


logging.getLogger("psycopg").addFilter(_OnlyWhenDebugging())


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
    check_url(url)
    try:
        conn = psycopg.connect(
            url,
            autocommit=autocommit,
            application_name=APPLICATION_NAME,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
        immune_to_idle_timeout(conn)
        return conn
    except psycopg.Error as exc:
        raise database_error("cannot connect to PostgreSQL", exc, url) from None


def immune_to_idle_timeout(conn: Connection) -> None:
    """Our connections sit idle on purpose (the lock one for a whole backfill).

    A server or role ``idle_session_timeout`` (PostgreSQL 14+) shorter than a
    backfill would kill the connection holding the migration lock; 0 turns it
    off for this session only.
    """
    if conn.info.server_version < 140000:
        return
    was_idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    conn.execute("SELECT set_config('idle_session_timeout', '0', false)")
    if was_idle and not conn.autocommit:
        conn.commit()  # the set_config opened a transaction; a SET survives its commit


def check_url(url: str) -> None:
    """Refuse a URL whose password libpq would misread (and then echo in its error).

    An unencoded ``@`` makes libpq take the password's tail for the host name;
    a ``%`` not followed by two hex digits is an invalid escape. Either way the
    error would show part of the password, so say what to fix without the URL.
    """
    if "://" not in url:
        return
    authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    if authority.count("@") > 1:
        raise ConfigError(
            "the database URL has more than one '@' before the host: a password or user"
            " name holding '@' must be percent-encoded",
            hint="write '@' as %40 (and '%' as %25) in the URL's password",
        )
    userinfo = authority.rpartition("@")[0]
    if _BAD_ESCAPE.search(userinfo):
        raise ConfigError(
            "the database URL's user or password holds a '%' that is not a percent-escape",
            hint="write '%' as %25 (and '@' as %40) in the URL's password",
        )


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def connect(config: ResolvedConfig, *, autocommit: bool = False) -> Connection:
    return connect_url(database_url(config), autocommit=autocommit)


def one_line(exc: BaseException) -> str:
    """An error's text on one line (server messages carry newlines), or its type."""
    return " ".join(str(exc).split()) or type(exc).__name__


def database_error(what: str, exc: BaseException, url: str | None = None) -> DatabaseError:
    """A one-line DatabaseError whose text never holds the password."""
    detail = one_line(exc)
    return DatabaseError(redact(f"{what}: {detail}", password_of(url)))


def current_actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return Actor(os_user=user, host=socket.gethostname(), version=__version__, pid=os.getpid())


def server_major(conn: Connection) -> int:
    return conn.info.server_version // 10000


def connect_like(conn: Connection, *, application_name: str = APPLICATION_NAME) -> Connection:
    """Another connection with ``conn``'s parameters (a helper's own, e.g. a watcher thread).

    ``info.dsn`` leaves the password out; it is passed on separately, never shown.
    """
    extra: dict[str, Any] = {}
    if conn.info.password:
        extra["password"] = conn.info.password
    new = psycopg.connect(
        conn.info.dsn,
        autocommit=True,
        application_name=application_name,
        connect_timeout=CONNECT_TIMEOUT_S,
        **extra,
    )
    immune_to_idle_timeout(new)
    return new


@contextmanager
def read_only_look(
    conn: Connection, *, statement_timeout: str, lock_timeout: str
) -> Iterator[None]:
    """A READ ONLY transaction under short timeouts, always rolled back: for reading
    the catalog or a user's SQL between steps without ever changing anything."""
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(
            "SELECT set_config('statement_timeout', %s, true),"
            " set_config('lock_timeout', %s, true)",
            (statement_timeout, lock_timeout),
        )
        yield
