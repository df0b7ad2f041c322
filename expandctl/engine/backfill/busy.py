"""Parallel workers yield the server's cores while other sessions are working.

N workers keep N backends busy. On a server whose cores are otherwise idle that
is what makes a parallel pass faster than one UPDATE; while the application
runs queries, those cores are its cores: measured on 2 cores under a fixed-rate
load, 2 workers raised its p99 about twice as much as 1 worker did
(docs/performance.md). So while other client sessions are seen working, at
most ``workers_when_busy`` workers (default 1) are inside a batch at once; the
others wait for a slot between their batches.

:class:`ActivityWatch` samples ``pg_stat_activity`` every 100 ms on its own
connection and thread: "busy" once another client session was active (or idle
in a transaction) in a fifth of the recent samples, "quiet" again below a
twentieth, so it does not flap on every sample. :class:`BatchSlots` is the
gate the workers pass.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from expandctl.engine.connection import connect_like, one_line

log = logging.getLogger(__name__)

SAMPLE_S = 0.1
# The first looks come quicker: an application of 1-2 ms transactions is seen by
# one look in a few, so the pass starts as if busy until these have decided.
FIRST_LOOKS = 10
FIRST_LOOK_S = 0.01
WEIGHT = 0.1  # of the newest sample: the score forgets over about a second
BUSY_AT = 0.2  # share of samples with another session working
QUIET_BELOW = 0.05
SLOT_POLL_S = 0.1  # a waiting worker looks at the stop flag this often
WATCH_TIMEOUT = "1s"

# Other client sessions doing something now: active, or in the middle of a
# transaction (idle in it for under a second; one left open for longer is an
# application bug that costs no CPU). Sessions of other roles are hidden without
# pg_read_all_stats (their state reads NULL, their query '<insufficient
# privilege>'): counted apart, they cannot be judged. A session still starting
# up also reads state NULL, with an empty query: it runs nothing yet (and the
# workers' own connections start that way), so it is neither.
OTHERS_WORKING_SQL = """
SELECT count(*) FILTER (WHERE state = 'active' OR (state LIKE 'idle in transaction%%'
                        AND state_change > clock_timestamp() - interval '1 second')),
       count(*) FILTER (WHERE state IS NULL AND query = '<insufficient privilege>')
  FROM pg_stat_activity
 WHERE (backend_type = 'client backend' OR (backend_type IS NULL AND datid IS NOT NULL))
   AND pid <> pg_backend_pid() AND NOT pid = ANY(%(ours)s::int[])
   AND application_name IS DISTINCT FROM 'expandctl lock-wait watch'
"""
MAX_FAILURES = 3  # samples failing in a row: the watch stops, and the workers take turns


class BatchSlots:
    """How many workers may be inside a batch at once; the limit moves with the server."""

    def __init__(self, workers: int, when_busy: int, what: str = "backfill") -> None:
        self.what = what
        self.workers = workers
        self.when_busy = max(1, min(when_busy, workers))
        self.limit = workers
        self.inside = 0
        self.busy_since: float | None = None
        self.busy_seconds = 0.0
        self._cond = threading.Condition()

    @property
    def busy(self) -> bool:
        return self.busy_since is not None

    def set_busy(self, busy: bool, *, announce: bool = True) -> None:
        with self._cond:
            if busy == self.busy:
                return
            now = time.monotonic()
            if busy:
                self.busy_since, self.limit = now, self.when_busy
            else:
                assert self.busy_since is not None
                self.busy_seconds += now - self.busy_since
                self.busy_since, self.limit = None, self.workers
            self._cond.notify_all()
        if announce:
            self.announce()

    def announce(self) -> None:
        """One log line for the state the workers run in now."""
        log.info(
            "%s: %s: %d of %d workers run batches at once",
            self.what,
            "other sessions are working" if self.busy else "the server is quiet again",
            self.limit,
            self.workers,
        )

    @contextlib.contextmanager
    def hold(self, stop: threading.Event) -> Iterator[bool]:
        """A slot for one batch; yields False (no slot) once ``stop`` is set."""
        with self._cond:
            while self.inside >= self.limit and not stop.is_set():
                self._cond.wait(SLOT_POLL_S)
            if stop.is_set():
                got = False
            else:
                got = True
                self.inside += 1
        try:
            yield got
        finally:
            if got:
                with self._cond:
                    self.inside -= 1
                    self._cond.notify()

    def seconds_busy(self) -> float:
        with self._cond:
            running = time.monotonic() - self.busy_since if self.busy_since is not None else 0.0
            return self.busy_seconds + running


class ActivityWatch:
    """Tells ``slots`` whether other sessions are working, sampled on its own connection."""

    def __init__(self, conn: psycopg.Connection[Any], like_pid: int, slots: BatchSlots) -> None:
        self.slots = slots
        self.ours: set[int] = {like_pid}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn = conn
        self.hidden_warned = False
        self.failed: str | None = None
        # Busy (the safe side) until the first looks have decided, ~0.1 s: one look
        # can miss an application of short transactions, and a quiet start would run
        # its first second of batches as if nobody were there.
        self.looks, self.hits = 1, int(self._working())
        self.score = 1.0
        slots.set_busy(True, announce=False)
        self._thread = threading.Thread(
            target=self._run, name="expandctl-activity-watch", daemon=True
        )
        self._thread.start()

    @classmethod
    def start(cls, like: psycopg.Connection[Any], slots: BatchSlots) -> ActivityWatch | None:
        """The watch, or None when it cannot start: then the workers take turns throughout."""
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = connect_like(like, application_name="expandctl activity watch")
            conn.autocommit = True
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('lock_timeout', %s, false)",
                (WATCH_TIMEOUT, WATCH_TIMEOUT),
            )
            return cls(conn, like.info.backend_pid, slots)
        except psycopg.Error as exc:
            if conn is not None:
                conn.close()
            log.warning(
                "%s: cannot watch for other sessions (%s): the workers take turns",
                slots.what,
                one_line(exc),
            )
            slots.set_busy(True)
            return None

    def add(self, conn: psycopg.Connection[Any]) -> None:
        """A backfill connection: its own work is not someone else's."""
        with self._lock:
            self.ours.add(conn.info.backend_pid)

    def quiet_now(self) -> bool:
        """Quiet by the recent samples and by one more look, now."""
        if self.failed or self.slots.busy:
            return False
        with self._lock:  # not at the same time as the watch thread's sample
            try:
                return not self._working()
            except psycopg.Error:
                return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()

    def _working(self) -> bool:
        """Another session is working, or hidden from this role (it may be)."""
        row = self._conn.execute(OTHERS_WORKING_SQL, {"ours": list(self.ours)}, prepare=False)
        working, hidden = row.fetchone() or (0, 0)
        if hidden and not self.hidden_warned:
            self.hidden_warned = True
            log.warning(
                "%s: %d session(s) of other roles are hidden from this role: taking turns as if"
                " they were working (grant pg_read_all_stats to let the workers see them, or"
                " raise workers_when_busy)",
                self.slots.what,
                hidden,
            )
        return bool(working or hidden)

    def _first_look(self, working: float) -> None:
        """Quiet only when none of the first looks saw anyone working."""
        self.looks += 1
        self.hits += int(working)
        if self.looks < FIRST_LOOKS:
            return
        self.score = self.hits / FIRST_LOOKS
        busy = self.hits > 0
        self.slots.set_busy(busy, announce=False)
        if busy:
            self.slots.announce()

    def _run(self) -> None:
        failures = 0
        while not self._stop.wait(FIRST_LOOK_S if self.looks < FIRST_LOOKS else SAMPLE_S):
            try:
                with self._lock:
                    working = 1.0 if self._working() else 0.0
            except psycopg.Error as exc:
                failures += 1
                if failures < MAX_FAILURES and not self._conn.closed:
                    continue
                # Blind from now on: the side that is safe for the application.
                self.failed = one_line(exc)
                log.warning(
                    "%s: the watch for other sessions stopped (%s): the workers take turns",
                    self.slots.what,
                    self.failed,
                )
                self.slots.set_busy(True)
                return
            failures = 0
            if self.looks < FIRST_LOOKS:
                self._first_look(working)
                continue
            self.score = (1 - WEIGHT) * self.score + WEIGHT * working
            if self.score >= BUSY_AT:
                self.slots.set_busy(True)
            elif self.score < QUIET_BELOW:
                self.slots.set_busy(False)
