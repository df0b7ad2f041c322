"""Health-governed backfill: wait while the database has better things to do.

Besides the replica limits (``throttle.ReplicaThrottle``), between batches the
runner waits

- while a VACUUM works on the backfill's table (``pause_on_vacuum``):
  autovacuum, above all one run "to prevent wraparound", and a manual VACUUM
  too. Every batch leaves dead row versions behind for that VACUUM to clean,
  and an anti-wraparound VACUUM must finish before the server stops taking
  writes;
- after a batch made other sessions wait for the rows or table it locked
  (``pause_on_lock_waits``), until none has been seen waiting for a second;
- while the user's ``health_check`` is not true.

:class:`Throttles` puts them together behind the one call the runner makes
between batches, ``wait_reason(conn)``, and writes each pause that lasts to the
event log (``history``), where ``status`` finds the one going on.

Lock waits are only visible while a batch holds its locks, and between batches
the runner holds none (every batch commits before ``wait_reason`` is asked).
So a watcher thread with its own connection samples ``pg_locks`` every 100 ms
*during* the batches for sessions whose ``pg_blocking_pids()`` include a
backfill connection; ``wait_reason`` reads what it saw. A wait shorter than a
sample may go unseen; a batch that keeps someone waiting for longer is seen.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from expandctl.engine.backfill.spec_check import check_expression
from expandctl.engine.backfill.throttle import ReplicaThrottle
from expandctl.engine.connection import connect_like, current_actor, one_line, read_only_look
from expandctl.engine.store import StateStore
from expandctl.errors import ManifestError
from expandctl.model.backfill import BackfillSpec

log = logging.getLogger(__name__)

LOCK_SAMPLE_S = 0.1
WATCH_TIMEOUT = "1s"  # statement_timeout and lock_timeout of one lock-wait sample
LOCK_WAIT_COOLDOWN_S = 1.0  # wait this long after the last session seen waiting on us
CHECK_EVERY_S = 1.0  # vacuum and health_check while healthy: at most once a second
HEALTH_CHECK_TIMEOUT = "2s"  # statement_timeout of one health_check run
# A health_check failing with these waits and tries again: a timeout, a lock, a conflict.
TRANSIENT = frozenset({"57014", "55P03", "40001", "40P01"})
MAX_TRANSIENT = 30  # ... but not forever: this many in a row stops the backfill
RECORD_AFTER_S = 0.5  # a pause this long goes to the event log
MERGE_S = 10.0  # the same wait again within this is the same pause in the event log

# Every VACUUM of the table, by whom: pg_stat_progress_vacuum lists autovacuum
# workers and manual VACUUMs alike (not VACUUM FULL: that takes an ACCESS
# EXCLUSIVE lock, and the batches would wait on it anyway).
VACUUM_SQL = """
SELECT p.pid, coalesce(a.backend_type, ''), coalesce(a.query, ''), p.phase
  FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a ON a.pid = p.pid
 WHERE p.relid = to_regclass(%s)
 ORDER BY p.pid
"""
# Without pg_read_all_stats (pg_monitor) the relid of another role's VACUUM reads NULL.
HIDDEN_VACUUMS_SQL = "SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid IS NULL"
# Sessions waiting for a lock that a backfill connection holds. pg_locks first (no
# privilege needed; OFFSET 0 keeps the planner from calling pg_blocking_pids() on
# every session): only sessions that wait at all are asked who blocks them.
# Other sessions only: parallel workers briefly queue on each other (the fencing
# row they all read FOR SHARE), which is no reason for the backfill to yield.
LOCK_WAITERS_SQL = """
SELECT w.pid
  FROM (SELECT DISTINCT pid FROM pg_locks WHERE NOT granted AND pid IS NOT NULL OFFSET 0) w
 WHERE pg_blocking_pids(w.pid) && %(ours)s::int[] AND NOT w.pid = ANY(%(ours)s::int[])
"""


@dataclass(frozen=True)
class Vacuum:
    pid: int
    autovacuum: bool
    wraparound: bool
    phase: str

    def describe(self, table: str) -> str:
        if self.autovacuum:
            who = "autovacuum (to prevent wraparound)" if self.wraparound else "autovacuum"
        else:
            who = f"VACUUM (pid {self.pid})"
        return f"{who} on {table}, {self.phase}"


def vacuums_on(conn: psycopg.Connection[Any], table: str) -> list[Vacuum]:
    """Every VACUUM working on ``table`` right now, anti-wraparound ones first."""
    found = [
        Vacuum(
            int(pid),
            autovacuum=backend_type == "autovacuum worker" or query.startswith("autovacuum:"),
            wraparound="to prevent wraparound" in query,
            phase=str(phase),
        )
        for pid, backend_type, query, phase in conn.execute(VACUUM_SQL, (table,), prepare=False)
    ]
    return sorted(found, key=lambda v: not v.wraparound)


@dataclass
class VacuumWatch:
    table: str
    warned_hidden: bool = False

    def reason(self, conn: psycopg.Connection[Any]) -> str | None:
        found = vacuums_on(conn, self.table)
        if found:
            return f"waiting: {found[0].describe(self.table)} (pause_on_vacuum)"
        self._warn_if_blind(conn)
        return None

    def _warn_if_blind(self, conn: psycopg.Connection[Any]) -> None:
        if self.warned_hidden:
            return
        self.warned_hidden = True
        row = conn.execute(HIDDEN_VACUUMS_SQL, prepare=False).fetchone()
        if row and row[0]:
            log.warning(
                "pause_on_vacuum: %d VACUUM(s) running whose table is hidden from this role,"
                " so they are not waited for; grant it pg_monitor",
                row[0],
            )


@dataclass
class _Seen:
    """What the watcher thread saw, shared with the runner's thread under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pids: set[int] = field(default_factory=set)  # backfill connections to watch
    waiters: set[int] = field(default_factory=set)  # seen waiting since the last read
    last_seen: float = 0.0  # monotonic time a waiter was last seen
    failed: str | None = None


class LockWaitWatch:
    """Samples, on its own connection and thread, who waits for a backfill connection."""

    def __init__(self) -> None:
        self.seen = _Seen()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._conns: list[psycopg.Connection[Any]] = []
        self._reported: set[int] = set()
        weakref.finalize(self, self._stop.set)

    def watch(self, conn: psycopg.Connection[Any]) -> None:
        """Watch ``conn``'s backend too; the first call starts the thread."""
        pid = conn.info.backend_pid
        with self.seen.lock:
            if pid in self.seen.pids:
                return
            self.seen.pids.add(pid)
        self._conns.append(conn)
        if self._thread is None:
            observer = connect_like(conn, application_name="expandctl lock-wait watch")
            # A sample stuck behind a catalog lock must not stall the watch: it fails,
            # the watch stops with a warning, and the backfill goes on without it.
            observer.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('lock_timeout', %s, false)",
                (WATCH_TIMEOUT, WATCH_TIMEOUT),
            )
            self._thread = threading.Thread(
                target=_sample,
                args=(observer, self.seen, self._conns, self._stop),
                name="expandctl-lock-wait-watch",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def reason(self) -> str | None:
        now = time.monotonic()
        with self.seen.lock:
            if self.seen.failed:
                failed, self.seen.failed = self.seen.failed, None
                log.warning("pause_on_lock_waits: the lock watch stopped: %s", failed)
            if not self.seen.last_seen or now - self.seen.last_seen >= LOCK_WAIT_COOLDOWN_S:
                self.seen.waiters.clear()
                self._reported.clear()
                return None
            self._reported |= self.seen.waiters
            self.seen.waiters.clear()
        pids = ", ".join(str(p) for p in sorted(self._reported)[:5])
        count = len(self._reported)
        sessions = "1 session" if count == 1 else f"{count} sessions"
        return (
            f"waiting: {sessions} waited for locks held by the backfill's batch"
            f" (pid {pids}; pause_on_lock_waits)"
        )


def _sample(
    observer: psycopg.Connection[Any],
    seen: _Seen,
    conns: list[psycopg.Connection[Any]],
    stop: threading.Event,
) -> None:
    """The watcher thread: until stopped, or every watched connection is closed."""
    try:
        with observer:
            while not stop.is_set() and not all(c.closed for c in list(conns)):
                with seen.lock:
                    pids = sorted(seen.pids)
                rows = observer.execute(LOCK_WAITERS_SQL, {"ours": pids}, prepare=False).fetchall()
                if rows:
                    with seen.lock:
                        seen.waiters.update(int(r[0]) for r in rows)
                        seen.last_seen = time.monotonic()
                stop.wait(LOCK_SAMPLE_S)
    except psycopg.Error as exc:
        with seen.lock:
            seen.failed = one_line(exc)


@dataclass
class HealthCheck:
    """The user's boolean: run read-only, under a short statement_timeout, on the backfill's
    own connection between batches.

    A check that cannot work (a syntax or type error, a missing table or
    privilege: SQLSTATE classes 42 and 22; an attempt to write) stops the
    backfill with the error: it would never become true. A check that times out
    or meets a lock is a reason to wait, like false; the next look tries again.
    """

    expression: str
    transient: int = 0  # failures in a row that were only a reason to wait

    def reason(self, conn: psycopg.Connection[Any]) -> str | None:
        shown = self.expression if len(self.expression) <= 80 else self.expression[:77] + "..."
        query = sql.SQL("SELECT ({})::boolean").format(sql.SQL(self.expression))
        try:
            with read_only_look(
                conn, statement_timeout=HEALTH_CHECK_TIMEOUT, lock_timeout=HEALTH_CHECK_TIMEOUT
            ):
                row = conn.execute(query, prepare=False).fetchone()
        except psycopg.Error as exc:
            state = exc.sqlstate or ""
            if state in TRANSIENT:
                self.transient += 1
                if self.transient < MAX_TRANSIENT:
                    return f"waiting: health_check could not run ({one_line(exc)}): {shown}"
                # A check that always takes longer than its timeout would wait forever.
                raise ManifestError(
                    f"backfill health_check {shown!r} failed {self.transient} times in a row:"
                    f" {one_line(exc)}",
                    hint=f"make it cheaper (it runs under statement_timeout"
                    f" {HEALTH_CHECK_TIMEOUT}), then run advance again: it resumes from the"
                    " last committed batch",
                ) from None
            if state[:2] in ("42", "22") or state == "25006":
                raise ManifestError(
                    f"backfill health_check {shown!r} cannot run: {one_line(exc)}",
                    hint="fix health_check in [backfill] (a boolean expression or SELECT),"
                    " then run advance again: it resumes from the last committed batch",
                ) from None
            raise
        self.transient = 0
        value = row[0] if row else None
        if value is True:
            return None
        return f"waiting: health_check is {'NULL' if value is None else 'false'}: {shown}"


@dataclass
class PauseLog:
    """Writes a pause to the event log once it has lasted RECORD_AFTER_S, and when it ends.

    ``action = 'backfill-wait'``; ``outcome = 'waiting'`` (``duration_ms``: how
    long it had waited when written) then ``'resumed'`` (the whole wait). The
    same wait again within MERGE_S is the same pause: lock waits that come and
    go every second make one pair of records, not thousands an hour. So the
    ``resumed`` record is written MERGE_S after the wait ended, or when the
    backfill ends (:meth:`flush`).
    """

    store: StateStore
    migration_id: str
    home: psycopg.Connection[Any] | None = None  # the runner's own: flush() writes on it
    kind: str | None = None
    reason: str | None = None
    started: float = 0.0
    ended: float | None = None  # the wait stopped then; it may still come back
    recorded: bool = False
    writable: bool = True  # the event log exists and takes our rows

    def observe(self, conn: psycopg.Connection[Any], kind: str | None, reason: str | None) -> None:
        now = time.monotonic()
        if self.kind is not None and kind != self.kind and self.ended is None:
            self.ended = now  # another wait, or none: this one stopped now
        other = kind is not None and kind != self.kind
        if self.ended is not None and (other or now - self.ended >= MERGE_S):
            self._finish(conn)
        if kind is None:
            return
        if kind == self.kind:
            self.ended = None  # still waiting, or again within MERGE_S: the same pause
        else:
            self.kind, self.reason, self.started, self.recorded = kind, reason, now, False
        if not self.recorded and now - self.started >= RECORD_AFTER_S:
            self.recorded = True
            self._write(conn, "waiting", now)

    def flush(self) -> None:
        """At the end of the backfill: a pause still open is over."""
        if self.home is not None and not self.home.closed:
            if self.kind is not None and self.ended is None:
                self.ended = time.monotonic()
            self._finish(self.home)

    def _finish(self, conn: psycopg.Connection[Any]) -> None:
        if self.kind is not None and self.recorded:
            self._write(conn, "resumed", self.ended if self.ended is not None else time.monotonic())
        self.kind, self.reason, self.ended, self.recorded = None, None, None, False

    def _write(self, conn: psycopg.Connection[Any], outcome: str, now: float) -> None:
        if not self.writable:
            return
        try:
            if not self.store.exists(conn):  # run_backfill on its own, without the engine
                self.writable = False
                return
            self.store.append_wait(
                conn,
                current_actor(),
                migration_id=self.migration_id,
                outcome=outcome,
                waited_ms=int((now - self.started) * 1000),
                reason=self.reason or "",
            )
        except psycopg.Error as exc:  # an audit line must not stop the backfill
            self.writable = False
            log.warning("cannot record backfill waits in the event log: %s", one_line(exc))


@dataclass
class Throttles:
    """Every reason to wait between batches, asked in one call: replicas, vacuum,
    lock waits, health_check (cheapest and most urgent first)."""

    replicas: ReplicaThrottle
    vacuum: VacuumWatch | None = None
    lock_waits: LockWaitWatch | None = None
    health: HealthCheck | None = None
    pauses: PauseLog | None = None
    _next_check: float = 0.0

    @classmethod
    def for_spec(
        cls,
        spec: BackfillSpec,
        schema: str | None = None,
        migration_id: str | None = None,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Throttles:
        """``conn``, the connection that runs the batches, is watched for lock waits from
        the first batch on (later connections passed to wait_reason are added)."""
        if spec.health_check:  # read-only, one expression: as set and where are checked
            check_expression(spec.health_check, what="health_check")
        throttles = cls(
            ReplicaThrottle.for_spec(spec),
            vacuum=VacuumWatch(spec.table) if spec.pause_on_vacuum else None,
            lock_waits=LockWaitWatch() if spec.pause_on_lock_waits else None,
            health=HealthCheck(spec.health_check) if spec.health_check else None,
            pauses=(
                PauseLog(StateStore(schema), migration_id, home=conn)
                if schema is not None and migration_id is not None
                else None
            ),
        )
        if conn is not None and throttles.lock_waits is not None:
            throttles.lock_waits.watch(conn)
        return throttles

    def wait_reason(self, conn: psycopg.Connection[Any]) -> str | None:
        """Why the next batch must wait, or None to go on (the same call as ReplicaThrottle's)."""
        if self.lock_waits is not None:
            self.lock_waits.watch(conn)
        kind, reason = self._first(conn)
        if self.pauses is not None:
            self.pauses.observe(conn, kind, reason)
        return reason

    def _first(self, conn: psycopg.Connection[Any]) -> tuple[str | None, str | None]:
        if reason := self.replicas.wait_reason(conn):
            return "replicas", reason
        if self.lock_waits is not None and (reason := self.lock_waits.reason()):
            return "lock_waits", reason
        now = time.monotonic()
        if now < self._next_check:
            return None, None
        for kind, check in (("vacuum", self.vacuum), ("health_check", self.health)):
            if check is not None and (reason := check.reason(conn)):
                return kind, reason
        self._next_check = now + CHECK_EVERY_S  # healthy: no need to ask every batch
        return None, None

    def close(self) -> None:
        if self.lock_waits is not None:
            self.lock_waits.stop()
        if self.pauses is not None:
            self.pauses.flush()


__all__ = ["HealthCheck", "LockWaitWatch", "PauseLog", "Throttles", "VacuumWatch", "vacuums_on"]
