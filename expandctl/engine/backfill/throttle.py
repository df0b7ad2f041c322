"""Gentleness between batches: a rows-per-second cap, a fixed pause, and waiting
while replicas fall behind.

Each check returns how long to wait and why; the runner sleeps in short steps
so a pause request or Ctrl-C is noticed quickly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg


@dataclass
class RateLimiter:
    """Keeps the average since start at or below ``rows_per_second``."""

    rows_per_second: int | None
    started: float = field(default_factory=time.monotonic)
    rows: int = 0

    def add(self, rows: int) -> float:
        """Count ``rows`` and return the seconds to wait before the next batch."""
        self.rows += rows
        if not self.rows_per_second:
            return 0.0
        due = self.started + self.rows / self.rows_per_second
        return max(0.0, due - time.monotonic())


@dataclass
class WalRateLimiter:
    """Keeps the server's WAL rate since start at or below ``bytes_per_second``.

    pg_current_wal_lsn() counts every writer, not only us: the point is what
    standbys and the archiver have to keep up with.
    """

    bytes_per_second: int | None
    started: float = field(default_factory=time.monotonic)
    start_lsn: int | None = None

    def wait_seconds(self, conn: psycopg.Connection[Any]) -> float:
        if not self.bytes_per_second:
            return 0.0
        row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").fetchone()
        lsn = int(row[0]) if row else 0
        if self.start_lsn is None:
            self.start_lsn, self.started = lsn, time.monotonic()
            return 0.0
        due = self.started + (lsn - self.start_lsn) / self.bytes_per_second
        return max(0.0, due - time.monotonic())


def replication_lag(conn: psycopg.Connection[Any]) -> timedelta | None:
    """The largest replay lag of any connected standby, None without standbys.

    Needs pg_monitor (or superuser) to see other sessions' lag; without it the
    lag columns read NULL and nothing is throttled.
    """
    row = conn.execute(
        "SELECT max(coalesce(replay_lag, write_lag, flush_lag)) FROM pg_stat_replication"
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def lag_wait_reason(conn: psycopg.Connection[Any], limit: timedelta | None) -> str | None:
    if limit is None:
        return None
    lag = replication_lag(conn)
    if lag is not None and lag > limit:
        return f"replication lag {lag.total_seconds():.1f}s > {limit.total_seconds():.1f}s"
    return None
