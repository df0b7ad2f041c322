"""The session-level advisory lock every state-changing command holds.

Session-level, so it is released when the process dies (even by kill -9) and
the next run can resume. A second command waits a bounded time, then says
who holds the lock instead of hanging.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg

from expandctl.engine.connection import Connection
from expandctl.errors import LockBusyError

# Two-key form pg_advisory_lock(int, int): a fixed class id ("expd") and the
# schema's hash, so two projects with different state schemas never collide.
LOCK_CLASS = 0x65787064
LANE_CLASS = 0x6578706C  # "expl": one migration's lane
POLL_S = 0.1


def lock_key(schema: str) -> tuple[int, int]:
    return LOCK_CLASS, zlib.crc32(schema.encode()) & 0x7FFFFFFF


def lane_key(schema: str, migration_id: str) -> tuple[int, int]:
    """One migration's own lock (see engine.lanes): a class id of its own, so a lane
    never collides with a schema lock."""
    return LANE_CLASS, zlib.crc32(f"{schema}\0{migration_id}".encode()) & 0x7FFFFFFF


def lock_holder(conn: Connection, schema: str) -> str | None:
    """Who holds the schema lock, in words, from pg_locks and pg_stat_activity."""
    return key_holder(conn, lock_key(schema))


def key_holder(conn: Connection, key: tuple[int, int]) -> str | None:
    """Who (other than us) holds the advisory lock ``key``, in words."""
    classid, objid = key
    row = conn.execute(
        "SELECT a.pid, a.usename, coalesce(host(a.client_addr), 'local'), a.application_name,"
        " a.backend_start, now() - a.backend_start"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid = %s::oid AND l.objid = %s::oid"
        " AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()"
        # Advisory locks belong to one database; pg_locks shows the whole cluster.
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (classid, objid),
    ).fetchone()
    if row is None:
        return None
    pid, user, client, app, _started, age = row
    seconds = int(age.total_seconds())
    return f"pid {pid} (user {user}, from {client}, application {app!r}, connected {seconds}s ago)"


def try_lock(conn: Connection, key: tuple[int, int]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()
    return bool(row and row[0])


def wait_for_lock(conn: Connection, key: tuple[int, int], wait: timedelta) -> bool:
    """Take ``key`` (session-level) polling for at most ``wait``; False if still busy."""
    deadline = time.monotonic() + wait.total_seconds()
    while not try_lock(conn, key):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def unlock(conn: Connection, key: tuple[int, int]) -> None:
    """Release ``key``; a connection that died took the lock with it, so never raise."""
    with contextlib.suppress(psycopg.Error):
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def busy_error(conn: Connection, schema: str, wait: timedelta) -> LockBusyError:
    holder = lock_holder(conn, schema) or "another session (it just released it)"
    return LockBusyError(
        f"another expandctl is changing state in schema {schema!r}: {holder}; "
        f"gave up after waiting {wait.total_seconds():g}s",
        hint="wait for it to finish, or raise advisory_lock_wait",
    )


@contextmanager
def advisory_lock(conn: Connection, schema: str, wait: timedelta) -> Iterator[None]:
    """Hold the schema lock on ``conn`` (autocommit) for the duration of the block."""
    if not wait_for_lock(conn, lock_key(schema), wait):
        raise busy_error(conn, schema, wait)
    try:
        yield
    finally:
        # Never mask the real error; a backfill may have handed the lock back already.
        unlock(conn, lock_key(schema))
