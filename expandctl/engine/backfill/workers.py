"""Several workers on disjoint key ranges at once: threads, each on its own connection.

The work is in the server, so a thread per worker only waits on its
connection. The ranges sit in one queue; each thread takes the next unfinished
range until none is left, so a resumed pass with fewer workers than ranges
still finishes every range. What the workers share:

- the throttles (one rows-per-second budget, one WAL rate, one look at the
  standbys), each behind a lock, so N workers are as gentle as one;
- one progress line adding up every range (:class:`Progress`);
- a stop flag: the first worker that fails sets it, the others finish their
  batch in flight (it commits with its checkpoint, or not at all) and stop,
  and the error names the failed range. The next ``advance`` resumes every
  range from its own checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from expandctl.engine.backfill.checkpoint import Checkpoint
from expandctl.engine.backfill.models import BackfillProgress
from expandctl.engine.backfill.throttle import RateLimiter, WalRateLimiter
from expandctl.engine.connection import database_error
from expandctl.errors import ExpandctlError
from expandctl.model.backfill import BackfillSpec

log = logging.getLogger(__name__)
TALLY = threading.Lock()  # guards the coordinator's counters while workers hand them in
JOIN_POLL_SECONDS = 0.2  # joins wake up this often, so Ctrl-C reaches the main thread


class WaitReason(Protocol):
    """A check run before each batch: why the next one must wait, or None."""

    def wait_reason(self, conn: psycopg.Connection[Any]) -> str | None: ...


@dataclass
class _SharedRate(RateLimiter):
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def add(self, rows: int) -> float:
        with self.lock:
            return super().add(rows)


@dataclass
class _SharedWal(WalRateLimiter):
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def wait_seconds(self, conn: psycopg.Connection[Any]) -> float:
        with self.lock:
            return super().wait_seconds(conn)


class _SharedWait:
    """One checker for every worker: it follows each standby from look to look."""

    def __init__(self, inner: WaitReason) -> None:
        self.inner = inner
        self.lock = threading.Lock()

    def wait_reason(self, conn: psycopg.Connection[Any]) -> str | None:
        with self.lock:
            return self.inner.wait_reason(conn)


@dataclass
class Throttles:
    """What a batch loop waits on between batches."""

    limiter: RateLimiter
    wal_limiter: WalRateLimiter
    replicas: WaitReason

    @classmethod
    def for_spec(cls, spec: BackfillSpec, replicas: WaitReason) -> Throttles:
        return cls(
            RateLimiter(spec.max_rows_per_second),
            WalRateLimiter(spec.max_wal_bytes_per_second),
            replicas,
        )

    @classmethod
    def shared(
        cls, limiter: RateLimiter, wal_limiter: WalRateLimiter, replicas: WaitReason
    ) -> Throttles:
        """The same limits, with their state so far, safe to use from every worker."""
        return cls(
            _SharedRate(limiter.rows_per_second, limiter.started, limiter.rows),
            _SharedWal(wal_limiter.bytes_per_second, wal_limiter.started, wal_limiter.start_lsn),
            _SharedWait(replicas),
        )


class Progress:
    """Turns each worker's tick into one line for the whole pass: all ranges added up."""

    def __init__(
        self,
        parent: Checkpoint,
        ranges: list[Checkpoint],
        callback: Callable[[BackfillProgress], None] | None,
        started: float,
        workers: int,
    ) -> None:
        self.parent = parent  # what was done before the pass was split
        self.ranges = ranges  # the workers advance these very objects
        self.callback = callback
        self.started = started
        self.workers = workers
        self.lock = threading.Lock()
        self.done_at_start = self._sum("rows_done")
        self.scanned_at_start = self._sum("rows_scanned")

    def _sum(self, name: str) -> int:
        return int(getattr(self.parent, name)) + sum(int(getattr(r, name)) for r in self.ranges)

    def __call__(self, tick: BackfillProgress) -> None:
        if self.callback is None:
            return
        with self.lock:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            done, scanned = self._sum("rows_done"), self._sum("rows_scanned")
            rate = (scanned - self.scanned_at_start) / elapsed
            if all(r.last_key == r.end_key for r in self.ranges):
                estimate = scanned
            else:  # reltuples is an estimate: never let it claim we are past the end
                estimate = max(self.parent.rows_estimate, int(scanned * 1.02) + 1)
            self.callback(
                tick.model_copy(
                    update={
                        "rows_done": done,
                        "rows_scanned": scanned,
                        "rows_estimate": estimate,
                        "rows_per_second": (done - self.done_at_start) / elapsed,
                        "eta_seconds": (estimate - scanned) / rate if rate > 0 else None,
                        "workers": self.workers,
                    }
                )
            )


def run(
    ranges: list[Checkpoint],
    *,
    threads: int,
    worker: Callable[[Callable[[], Checkpoint | None]], None],
    stop: threading.Event,
    describe: Callable[[Checkpoint], str],
) -> None:
    """Run ``worker`` in up to ``threads`` threads until every range is done or one fails.

    ``worker`` opens its connection and calls the ``next_range`` it is given
    until it returns None.
    """
    todo = deque(r for r in ranges if r.last_key != r.end_key)
    if not todo:
        return
    lock = threading.Lock()
    t0 = time.monotonic()
    failures: list[tuple[Checkpoint | None, BaseException]] = []

    def thread_main() -> None:
        current: Checkpoint | None = None

        def next_range() -> Checkpoint | None:
            nonlocal current
            with lock:
                current = todo.popleft() if todo and not stop.is_set() else None
                return current

        try:
            worker(next_range)
        except BaseException as exc:  # handed to the main thread below
            with lock:
                failures.append((current, exc))
            stop.set()
        finally:
            log.debug("%s done after %.3fs", threading.current_thread().name, time.monotonic() - t0)

    started = [
        threading.Thread(target=thread_main, name=f"expandctl-backfill-{n + 1}", daemon=True)
        for n in range(max(1, min(threads, len(todo))))
    ]
    for thread in started:
        thread.start()
    try:
        for thread in started:
            while thread.is_alive():
                thread.join(JOIN_POLL_SECONDS)
    except BaseException:  # Ctrl-C: every worker ends after its batch in flight
        stop.set()
        for thread in started:
            thread.join()
        raise
    if failures:
        failed, exc = failures[0]
        raise _named(exc, describe(failed) if failed is not None else "a backfill worker")


def _named(exc: BaseException, where: str) -> BaseException:
    """The worker's error, saying which range failed and that the others stopped."""
    resume = (
        "the other workers stopped after their batch in flight and every range keeps its"
        " checkpoint: fix the cause, then run advance again to resume all ranges"
    )
    if isinstance(exc, ExpandctlError):
        exc.message = f"{where}: {exc.message}"
        exc.args = (exc.message,)
        exc.hint = f"{exc.hint}; {resume}" if exc.hint else resume
        return exc
    if isinstance(exc, psycopg.Error):
        error = database_error(f"{where} failed", exc)
        error.hint = resume
        return error
    return exc
