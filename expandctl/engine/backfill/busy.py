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

from expandctl.engine.connection import connect_like

log = logging.getLogger(__name__)

SAMPLE_S = 0.1
WEIGHT = 0.1  # of the newest sample: the score forgets over about a second
BUSY_AT = 0.2  # share of samples with another session working
QUIET_BELOW = 0.05
SLOT_POLL_S = 0.1  # a waiting worker looks at the stop flag this often
WATCH_TIMEOUT = "1s"

# Other client sessions doing something now. Idle ones cost no CPU; a session idle
# in a transaction is between the statements of one, so it counts.
OTHERS_WORKING_SQL = """
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'client backend'
   AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')
   AND pid <> pg_backend_pid() AND NOT pid = ANY(%(ours)s::int[])
"""


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

    def set_busy(self, busy: bool) -> None:
        with self._cond:
            if busy == (self.busy_since is not None):
                return
            now = time.monotonic()
            if busy:
                self.busy_since, self.limit = now, self.when_busy
            else:
                assert self.busy_since is not None
                self.busy_seconds += now - self.busy_since
                self.busy_since, self.limit = None, self.workers
            self._cond.notify_all()
        log.info(
            "%s: %s: %d of %d workers run batches at once",
            self.what,
            "other sessions are working" if busy else "the server is quiet again",
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

    def __init__(self, like: psycopg.Connection[Any], slots: BatchSlots) -> None:
        self.slots = slots
        self.ours: set[int] = {like.info.backend_pid}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.failed: str | None = None
        self._conn = connect_like(like, application_name="expandctl activity watch")
        self._conn.autocommit = True
        self._conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false)",
            (WATCH_TIMEOUT, WATCH_TIMEOUT),
        )
        # The first look decides how the pass starts: no burst before the first sample.
        self.score = 1.0 if self._others() else 0.0
        slots.set_busy(self.score >= BUSY_AT)
        self._thread = threading.Thread(
            target=self._run, name="expandctl-activity-watch", daemon=True
        )
        self._thread.start()

    def add(self, conn: psycopg.Connection[Any]) -> None:
        """A backfill connection: its own work is not someone else's."""
        with self._lock:
            self.ours.add(conn.info.backend_pid)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if not self._thread.is_alive():
            self._conn.close()

    def _others(self) -> int:
        with self._lock:
            ours = sorted(self.ours)
        row = self._conn.execute(OTHERS_WORKING_SQL, {"ours": ours}, prepare=False).fetchone()
        return int(row[0]) if row else 0

    def _run(self) -> None:
        try:
            while not self._stop.wait(SAMPLE_S):
                working = 1.0 if self._others() else 0.0
                self.score = (1 - WEIGHT) * self.score + WEIGHT * working
                if self.score >= BUSY_AT:
                    self.slots.set_busy(True)
                elif self.score < QUIET_BELOW:
                    self.slots.set_busy(False)
        except psycopg.Error as exc:
            # Without the watch the workers keep the limit they had: the safe side
            # when they were yielding, all of them when the server looked quiet.
            self.failed = " ".join(str(exc).split()) or type(exc).__name__
            log.warning("backfill activity watch stopped: %s", self.failed)
