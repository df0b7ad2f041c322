"""Gentleness between batches: a rows-per-second cap, a fixed pause, and waiting
while replicas fall behind (in bytes not yet replayed and in time) or a
replication slot holds back too much WAL.

Each check returns how long to wait and why; the runner sleeps in short steps
so a pause request or Ctrl-C is noticed quickly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg

from expandctl.engine import events
from expandctl.model.backfill import BackfillSpec

log = logging.getLogger(__name__)


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


# One round trip: every standby's position as the primary sees it. Logical
# walsenders (subscriptions) appear here too; their replay_lsn is what the
# subscriber has applied. Positions are bytes since 0/0, so Python can compare them.
STANDBYS_SQL = """
SELECT pid, coalesce(nullif(application_name, ''), client_addr::text, 'pid ' || pid),
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
       pg_wal_lsn_diff(replay_lsn, '0/0')::bigint,
       pg_wal_lsn_diff(flush_lsn, '0/0')::bigint,
       extract(epoch FROM replay_lag)::float8
  FROM pg_stat_replication
"""
# WAL a slot keeps from being removed: a stalled consumer (logical decoding,
# a standby that went away) makes this grow without any standby showing lag.
SLOTS_SQL = """
SELECT slot_name, slot_type, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
  FROM pg_replication_slots
 WHERE restart_lsn IS NOT NULL
"""
MB = 1024 * 1024


@dataclass(frozen=True)
class StandbyLag:
    """How far one standby is behind: bytes not yet replayed, and for how long."""

    name: str  # application_name, as in pg_stat_replication
    bytes_behind: int
    seconds_behind: float
    stalled: bool  # received WAL since we last looked, replayed none of it


@dataclass
class _Seen:
    replayed: int
    flushed: int
    replay_moved_at: float  # when we first saw ``replayed``
    stalled: bool = False


@dataclass
class ReplayWatch:
    """Follows each standby's replay position from one check to the next.

    ``replay_lag`` stays NULL or stops growing while replay is stuck and the
    primary sends nothing new (an idle primary, or the backfill itself
    waiting), and it only crosses a limit after that much time of writing. A
    standby whose report shows WAL received since our last look (flush
    advanced) but replay not advanced at all is stalled: it counts as behind
    at once, for as long as we have seen its replay stand still.
    """

    seen: dict[int, _Seen] = field(default_factory=dict)  # by walsender pid

    def standbys(self, conn: psycopg.Connection[Any]) -> list[StandbyLag]:
        """Every standby that reports positions, worst first.

        Without pg_monitor (or superuser) the positions of other sessions read
        NULL: such standbys are left out, and :func:`unseen_standbys` counts them.
        """
        now = time.monotonic()
        lags: list[StandbyLag] = []
        for pid, name, behind, replayed, flushed, replay_lag in conn.execute(STANDBYS_SQL):
            if behind is None or replayed is None or flushed is None:
                continue
            seen = self._update(int(pid), int(replayed), int(flushed), now)
            behind = max(0, int(behind))
            seconds = 0.0
            if behind:  # caught up: a replay_lag left from before is stale
                stalled_for = now - seen.replay_moved_at if seen.stalled else 0.0
                seconds = max(float(replay_lag or 0.0), stalled_for)
            lags.append(StandbyLag(str(name), behind, seconds, seen.stalled and behind > 0))
        return sorted(lags, key=lambda s: (s.stalled, s.seconds_behind, s.bytes_behind))[::-1]

    def _update(self, pid: int, replayed: int, flushed: int, now: float) -> _Seen:
        before = self.seen.get(pid)
        if before is None or replayed > before.replayed:
            self.seen[pid] = _Seen(replayed, flushed, now)
        elif flushed > before.flushed:
            # A fresh report: if WAL was already waiting at the last look and none of
            # it was replayed since, replay is stalled; either way remember what waits.
            before.stalled = before.stalled or before.replayed < before.flushed
            before.flushed = flushed
        return self.seen[pid]


@dataclass(frozen=True)
class SlotBacklog:
    name: str
    slot_type: str  # physical | logical
    bytes_retained: int


def unseen_standbys(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn IS NULL"
    ).fetchone()
    return int(row[0]) if row else 0


def slot_backlogs(conn: psycopg.Connection[Any]) -> list[SlotBacklog]:
    slots = [
        SlotBacklog(str(name), str(kind), max(0, int(retained)))
        for name, kind, retained in conn.execute(SLOTS_SQL)
    ]
    return sorted(slots, key=lambda s: s.bytes_retained, reverse=True)


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def _seconds(limit: timedelta) -> str:
    return f"{limit.total_seconds():g} s"


@dataclass
class ReplicaThrottle:
    """Waits while a standby is behind or a replication slot holds too much WAL.

    One per backfill run: it follows each standby's replay from check to check
    (see :class:`ReplayWatch`) and warns once if it cannot see their positions.
    """

    max_lag: timedelta | None = None
    max_lag_bytes: int | None = None
    max_slot_bytes: int | None = None
    watch: ReplayWatch = field(default_factory=ReplayWatch)
    warned_unseen: bool = False

    @classmethod
    def for_spec(cls, spec: BackfillSpec) -> ReplicaThrottle:
        return cls(
            spec.max_replication_lag,
            spec.max_replication_lag_bytes,
            spec.max_slot_retained_wal_bytes,
        )

    def wait_reason(self, conn: psycopg.Connection[Any]) -> str | None:
        """Why the next batch must wait (the first limit exceeded), or None to go on."""
        if self.max_lag is not None or self.max_lag_bytes is not None:
            for standby in self.watch.standbys(conn):
                events.emit(
                    "replication_lag",
                    f"standby {standby.name}: {_mb(standby.bytes_behind)} behind",
                    standby=standby.name,
                    lag_bytes=standby.bytes_behind,
                    lag_seconds=standby.seconds_behind,
                    level=logging.DEBUG,  # a gauge for metrics, not a log line per batch
                )
                if reason := self._standby_reason(standby):
                    return reason
            self._warn_if_blind(conn)
        if self.max_slot_bytes is not None:
            for slot in slot_backlogs(conn):
                if slot.bytes_retained > self.max_slot_bytes:
                    return (
                        f"waiting: {slot.slot_type} replication slot {slot.name} retains"
                        f" {_mb(slot.bytes_retained)} of WAL"
                        f" (max_slot_retained_wal_bytes {_mb(self.max_slot_bytes)})"
                    )
        return None

    def _standby_reason(self, standby: StandbyLag) -> str | None:
        over: list[str] = []
        if self.max_lag is not None and standby.stalled:
            over.append(f"replay stalled; max_replication_lag {_seconds(self.max_lag)}")
        elif self.max_lag is not None and standby.seconds_behind > self.max_lag.total_seconds():
            over.append(f"max_replication_lag {_seconds(self.max_lag)}")
        if self.max_lag_bytes is not None and standby.bytes_behind > self.max_lag_bytes:
            over.append(f"max_replication_lag_bytes {_mb(self.max_lag_bytes)}")
        if not over:
            return None
        return (
            f"waiting: standby {standby.name} is {_mb(standby.bytes_behind)}"
            f" / {standby.seconds_behind:.1f} s behind ({', '.join(over)})"
        )

    def _warn_if_blind(self, conn: psycopg.Connection[Any]) -> None:
        if self.warned_unseen:
            return
        self.warned_unseen = True
        if unseen := unseen_standbys(conn):
            log.warning(
                "max_replication_lag: %d standby(s) connected but their positions are hidden"
                " from this role, so they are not waited for; grant it pg_monitor",
                unseen,
            )
