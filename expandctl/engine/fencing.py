"""Fencing: a run commits only while it still owns the migration lock.

The advisory lock is session-level, on the run's control connection. When
that connection dies, PostgreSQL releases the lock and another run can take
it while this run's work connection is still inside a transaction. So every
run that takes the lock also takes the *lease*: it increments a fencing token
in ``<schema>.lease`` and remembers the value. Every work transaction (a
phase group, a step record, a backfill batch) first reads the lease row
``FOR SHARE`` and checks the token is still its own:

- the row lock is held until COMMIT, so a new owner's increment waits for
  that transaction to end: the two can never interleave;
- a transaction that finds another token raises and rolls back, so nothing
  it did commits.

This holds whether or not the old control connection's backend has noticed
it is gone: while that backend lives it keeps the advisory lock (nobody can
take the lease), and once it is gone the token is what decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from expandctl.engine.retry import describe_backends
from expandctl.errors import LockBusyError
from expandctl.model.state import Actor

LEASE_TABLE = "lease"
LANE_TABLE = "lane"


class LostOwnershipError(LockBusyError):
    """Another run took the migration lock; this run committed nothing after the point named."""


@dataclass(frozen=True)
class Fence:
    """The lease this run holds: checked inside every transaction that commits work."""

    schema: str
    token: int
    # A backfill that handed the schema lock back is fenced by its migration's lane.
    lane: str | None = None

    @property
    def query(self) -> bytes:
        if self.lane is None:
            return _check_query(self.schema)
        return _lane_query(self.schema, self.lane)

    def check(self, conn: psycopg.Connection[Any], *, what: str, committed: str) -> None:
        """Raise LostOwnershipError unless the lease is still ours; call inside the transaction.

        ``what`` names the migration, ``committed`` what this run has committed
        ("nothing after step 3 was committed by this run").
        """
        self.verify(conn.execute(self.query).fetchone(), what=what, committed=committed)

    def verify(self, row: Any, *, what: str, committed: str) -> None:
        """Check the row :attr:`query` returned (in pipeline mode it comes later)."""
        token, holder = row if row else (None, "nobody")
        if token != self.token:
            raise LostOwnershipError(
                f"lost ownership of {what} to {holder}; {committed}",
                hint="another expandctl took the migration lock after this run's lock "
                "connection was lost; check 'expandctl status' before running anything again",
            )


@cache
def _check_query(schema: str) -> bytes:
    return (
        sql.SQL("SELECT token, holder FROM {} FOR SHARE")
        .format(sql.Identifier(schema, LEASE_TABLE))
        .as_bytes(None)
    )


@cache
def _lane_query(schema: str, migration_id: str) -> bytes:
    return (
        sql.SQL("SELECT token, holder FROM {} WHERE migration_id = {} FOR SHARE")
        .format(sql.Identifier(schema, LANE_TABLE), sql.Literal(migration_id))
        .as_bytes(None)
    )


def holder_of(actor: Actor) -> str:
    return f"{actor} pid {actor.pid}"


def take_lease(conn: psycopg.Connection[Any], schema: str, actor: Actor, wait: timedelta) -> Fence:
    """Increment the token; call right after taking the advisory lock, before reading state.

    It waits (at most ``wait``) for the previous owner's open work transaction,
    so the state read afterwards includes everything that run committed.
    """
    bump = sql.SQL(
        "INSERT INTO {t} AS l (token, holder) VALUES (1, %s)"
        " ON CONFLICT (only_row) DO UPDATE"
        " SET token = l.token + 1, holder = excluded.holder, taken_at = now()"
        " RETURNING token"
    ).format(t=sql.Identifier(schema, LEASE_TABLE))
    try:
        token = _bump_token(conn, bump, (holder_of(actor),), wait)
    except pg_errors.LockNotAvailable:
        raise LockBusyError(
            f"the previous owner of the migration lock in schema {schema!r} lost its lock "
            f"connection but still has a transaction open: {_lease_holders(conn, schema)}; "
            f"gave up after waiting {wait.total_seconds():g}s",
            hint="wait for it to finish or end it (pg_terminate_backend), then run again",
        ) from None
    return Fence(schema=schema, token=token)


def _bump_token(
    conn: psycopg.Connection[Any], bump: sql.Composed, params: tuple[str, ...], wait: timedelta
) -> int:
    """Run the token's upsert, waiting at most ``wait`` (LockNotAvailable after that) for
    a transaction that still holds the row FOR SHARE."""
    with conn.transaction():
        wait_ms = max(1, int(wait.total_seconds() * 1000))  # 0 would mean forever
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{wait_ms}ms",))
        row = conn.execute(bump, params).fetchone()
    assert row is not None
    return int(row[0])


def _lease_holders(conn: psycopg.Connection[Any], schema: str) -> str:
    """Who still holds a lock on the lease table (its open transaction read the row)."""
    try:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'relation' AND granted"
            " AND relation = to_regclass(%s) AND pid <> pg_backend_pid()",
            (sql.Identifier(schema, LEASE_TABLE).as_string(None),),
        ).fetchall()
        return describe_backends(conn, [row[0] for row in rows]) or "unknown"
    except psycopg.Error:
        return "unknown"


def take_lane_lease(
    conn: psycopg.Connection[Any], schema: str, migration_id: str, actor: Actor, wait: timedelta
) -> Fence:
    """Bump one migration's lane token: the fence of a backfill run without the schema lock.

    Call with the migration's lane lock held. Like :func:`take_lease`, it waits
    for a previous lane owner's open batch transaction, which holds the row
    FOR SHARE until it commits or rolls back.
    """
    bump = sql.SQL(
        "INSERT INTO {t} AS l (migration_id, token, holder) VALUES (%s, 1, %s)"
        " ON CONFLICT (migration_id) DO UPDATE"
        " SET token = l.token + 1, holder = excluded.holder, taken_at = now()"
        " RETURNING token"
    ).format(t=sql.Identifier(schema, LANE_TABLE))
    try:
        token = _bump_token(conn, bump, (migration_id, holder_of(actor)), wait)
    except pg_errors.LockNotAvailable:
        raise LockBusyError(
            f"a previous backfill run of {migration_id} lost its connection but still has a "
            f"batch transaction open; gave up after waiting {wait.total_seconds():g}s",
            hint="wait for it to finish or end it (pg_terminate_backend), then run again",
        ) from None
    return Fence(schema=schema, token=token, lane=migration_id)
