"""Run a DDL unit with a short lock_timeout, retrying with backoff and jitter.

Waiting on a lock queues every later query on that table behind us, so we
give up quickly (lock_timeout), let traffic through, and try again. While a
unit runs, a watcher on a second connection notes who blocks it
(pg_blocking_pids), so each retry can name the blocking pid and its query.
Each retry is also a ``lock_retry`` event (engine/events.py) for metrics and JSON logs.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg import errors as pg_errors

from expandctl.engine import events
from expandctl.engine.connection import Connection
from expandctl.errors import DatabaseError

log = logging.getLogger("expandctl")
T = TypeVar("T")

BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 10.0
WATCH_POLL_S = 0.1


@dataclass(frozen=True)
class Retry:
    reason: str  # "lock timeout" or "deadlock"
    attempt: int  # 1-based retry number
    delay_s: float
    blocker: str  # "pid 123 (idle in transaction): LOCK TABLE ..." or "unknown"


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential with full-range jitter (0.5x..1.5x), capped."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    jitter = rng.random() if rng is not None else random.random()
    return float(base * (0.5 + jitter))


class BlockerWatch:
    """Polls pg_blocking_pids(target) on ``observer`` while the block runs."""

    def __init__(self, observer: Connection, target_pid: int) -> None:
        self.observer = observer
        self.target_pid = target_pid
        self.last: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BlockerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(WATCH_POLL_S):
            try:
                found = blockers(self.observer, self.target_pid)
            except psycopg.Error:
                return
            if found:
                self.last = found


def blockers(conn: Connection, pid: int) -> str | None:
    """Who blocks ``pid`` now: pid, state, application and query of each."""
    row = conn.execute("SELECT pg_blocking_pids(%s)", (pid,)).fetchone()
    return describe_backends(conn, list(row[0]) if row and row[0] else [])


def describe_backends(conn: Connection, pids: list[int]) -> str | None:
    """``pid 123 (idle in transaction, application 'psql'): LOCK TABLE ...`` for each pid."""
    if not pids:
        return None
    rows = conn.execute(
        "SELECT a.pid, a.state, a.application_name,"
        " left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)"
        " FROM pg_stat_activity a WHERE a.pid = ANY(%s) ORDER BY a.pid",
        (pids,),
    ).fetchall()
    if not rows:
        return None
    return "; ".join(
        f"pid {p} ({state}{f', application {app!r}' if app else ''}): {scrub_query(query)}"
        for p, state, app, query in rows
    )


# Another session's last query is shown (and logged in the event table): its
# ALTER/CREATE ROLE … PASSWORD '…' must not be.
_SQL_PASSWORD = re.compile(r"(\bpassword\s+)(?:E?'(?:[^']|'')*'?|\$\w*\$.*)", re.IGNORECASE)


def scrub_query(query: str | None) -> str:
    """A blocker's query text, with any PASSWORD literal masked."""
    return _SQL_PASSWORD.sub(r"\1'********'", query or "")


def with_lock_retries(
    unit: Callable[[], T],
    *,
    work: Connection,
    observer: Connection,
    retries: int,
    on_retry: Callable[[Retry], None],
    what: str | Callable[[], str],
) -> tuple[T, int]:
    """Run ``unit``; on lock timeout (55P03) retry up to ``retries`` times.

    ``what`` names what waited; as a callable it is asked after the wait, so a
    group of statements names the one that actually waited, not its first.

    A deadlock (40P01) is retried the same way. ``unit`` must leave nothing
    half-done when it raises (a rolled-back transaction, or an autocommit
    statement that can be re-run).
    """
    attempt = 0
    while True:
        watch = BlockerWatch(observer, work.info.backend_pid)
        try:
            with watch:
                return unit(), attempt
        except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected) as exc:
            # Both leave nothing behind (the transaction rolled back; an interrupted
            # concurrent index build is dropped before the next attempt).
            reason = "deadlock" if isinstance(exc, pg_errors.DeadlockDetected) else "lock timeout"
            waited = what() if callable(what) else what
            attempt += 1
            blocker = watch.last or "unknown (none was seen before the lock timeout)"
            if attempt > retries:
                raise DatabaseError(
                    f"{waited}: still waiting for a lock after {retries} retries; blocked by "
                    f"{blocker}",
                    hint="find and end the blocking transaction, or retry later; "
                    "nothing was left half-done",
                ) from None
            delay = backoff_delay(attempt)
            retry = Retry(reason=reason, attempt=attempt, delay_s=delay, blocker=blocker)
            log.warning(
                "%s on %s; retry %d/%d in %.2fs; blocked by %s",
                reason,
                waited,
                attempt,
                retries,
                delay,
                blocker,
            )
            events.emit(
                "lock_retry",
                f"{reason} on {waited}; retry {attempt}/{retries} in {delay:.2f}s",
                level=logging.WARNING,
                reason=reason.replace(" ", "_"),
                attempt=attempt,
                retries_max=retries,
                delay_seconds=round(delay, 3),
                blocker=blocker,
            )
            on_retry(retry)
            time.sleep(delay)
