"""Read a migration's phase from application code, like a feature flag.

Instead of redeploying to switch reads and writes, code can ask the state
table which phase a migration reached::

    from expandctl import runtime

    if runtime.reads_new(conn, "0003_split_name"):
        row = conn.execute("SELECT first_name, last_name FROM users WHERE id = %s", (uid,))
    else:
        row = conn.execute("SELECT name FROM users WHERE id = %s", (uid,))

Answers are cached for a short time (``ttl`` seconds, default 5) per database
and migration, so asking on every request costs one query per TTL. A missing
state schema or an unknown migration reads as ``pending``. The lookup never
leaves a transaction open on an idle connection, never raises because of a
missing table, and runs in a savepoint inside the caller's transaction so an
error (a role without access to the state: ConfigError) cannot abort it.

It works through PgBouncer in transaction mode: the lookup keeps no session
state and never uses a server-side prepared statement (psycopg prepares a query
on its own after ``prepare_threshold`` runs; behind a transaction pooler the
next run may reach a server connection that does not know it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from expandctl.errors import ConfigError
from expandctl.model.phases import Phase, State

DEFAULT_SCHEMA = "expandctl"
DEFAULT_TTL_S = 5.0

__all__ = ["PhaseReader", "configure", "invalidate", "phase", "reads_new", "writes_new"]


class PhaseReader:
    """Cached lookups of ``<schema>.migrations.state``; safe to share between threads."""

    def __init__(
        self,
        *,
        schema: str = DEFAULT_SCHEMA,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.schema = schema
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, State]] = {}
        self._lock = threading.Lock()

    def phase(self, conn: psycopg.Connection[Any], migration_id: str) -> State:
        """The last phase ``migration_id`` completed (``State.PENDING`` before expand)."""
        key = (_database_key(conn), migration_id)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        state = self._read(conn, migration_id)
        with self._lock:
            self._cache[key] = (now, state)
        return state

    def reads_new(self, conn: psycopg.Connection[Any], migration_id: str) -> bool:
        """True once switch-reads completed: read the new shape."""
        return self.phase(conn, migration_id).at_least(Phase.SWITCH_READS)

    def writes_new(self, conn: psycopg.Connection[Any], migration_id: str) -> bool:
        """True once switch-writes completed: write the new shape."""
        return self.phase(conn, migration_id).at_least(Phase.SWITCH_WRITES)

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def _read(self, conn: psycopg.Connection[Any], migration_id: str) -> State:
        idle = (
            not conn.autocommit
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        )
        in_callers_transaction = (
            conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        )
        try:
            # Inside the caller's transaction, a savepoint: an error here (say, a
            # role without access to the state schema) must not abort their work.
            with conn.transaction() if in_callers_transaction else contextlib.nullcontext():
                return self._query(conn, migration_id)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConfigError(
                f"this role may not read expandctl's state ({' '.join(str(exc).split())})",
                hint=f"GRANT USAGE ON SCHEMA {_quote(self.schema)} TO <the application's role>; "
                f"GRANT SELECT ON {_quote(self.schema)}.migrations TO <the application's role>",
            ) from exc
        finally:
            if idle:
                conn.rollback()  # we opened that transaction: do not leave it idle

    def _query(self, conn: psycopg.Connection[Any], migration_id: str) -> State:
        table = f"{_quote(self.schema)}.migrations"
        # prepare=False: see the module doc (transaction poolers).
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (table,), prepare=False
        ).fetchone()
        if not (row and row[0]):
            return State.PENDING
        query = sql.SQL("SELECT state FROM {}.migrations WHERE id = %s").format(
            sql.Identifier(self.schema)
        )
        found = conn.execute(query, (migration_id,), prepare=False).fetchone()
        return State(found[0]) if found else State.PENDING


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _database_key(conn: psycopg.Connection[Any]) -> str:
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


_default = PhaseReader()


def configure(*, schema: str = DEFAULT_SCHEMA, ttl: float = DEFAULT_TTL_S) -> None:
    """Set the state schema and cache TTL the module-level functions use."""
    global _default
    _default = PhaseReader(schema=schema, ttl=ttl)


def phase(conn: psycopg.Connection[Any], migration_id: str) -> State:
    return _default.phase(conn, migration_id)


def reads_new(conn: psycopg.Connection[Any], migration_id: str) -> bool:
    return _default.reads_new(conn, migration_id)


def writes_new(conn: psycopg.Connection[Any], migration_id: str) -> bool:
    return _default.writes_new(conn, migration_id)


def invalidate() -> None:
    """Forget cached answers (e.g. right after running advance in the same process)."""
    _default.invalidate()
