"""The batch loop: keyset batches, each one short transaction with its checkpoint.

Resumable (the checkpoint says where to continue), adaptive (the batch size
follows ``target_batch_ms``), polite (retries with backoff and a smaller batch
on lock trouble, obeys pause, rate cap and replication lag) and verified (a
final count of rows still matching ``where``).
"""

from __future__ import annotations

import contextlib
import logging
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from expandctl.engine.backfill import checkpoint as cps
from expandctl.engine.backfill import workers as pool
from expandctl.engine.backfill.busy import ActivityWatch, BatchSlots
from expandctl.engine.backfill.health import Throttles
from expandctl.engine.backfill.keyset import KeysetSql, batch_params, find_upper
from expandctl.engine.backfill.models import BackfillProgress, BackfillResult
from expandctl.engine.backfill.ranges import (
    FINE_PARTS_PER_WORKER,
    auto_workers,
    cut_keys,
    merge_parts,
    split,
    workers_of,
)
from expandctl.engine.backfill.sizing import BatchSizer
from expandctl.engine.backfill.spec_check import TableInfo, check_statements, resolve_table
from expandctl.engine.backfill.verify import count_remaining, raise_if_remaining
from expandctl.engine.connection import immune_to_idle_timeout, one_line
from expandctl.engine.fencing import Fence
from expandctl.engine.retry import describe_backends, with_lock_retries
from expandctl.errors import DatabaseError
from expandctl.model.backfill import BackfillSpec
from expandctl.model.config import Settings
from expandctl.model.durations import to_milliseconds

log = logging.getLogger(__name__)
T = TypeVar("T")

# Worth another try with a smaller batch: someone else held the rows a bit too long.
RETRYABLE = (
    pg_errors.LockNotAvailable,  # 55P03 lock_timeout
    pg_errors.DeadlockDetected,  # 40P01
    pg_errors.SerializationFailure,  # 40001
    pg_errors.QueryCanceled,  # 57014 statement_timeout
)
PAUSE_POLL_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 2.0

ProgressCallback = Callable[[BackfillProgress], None]


def _committed(cp: cps.Checkpoint) -> str:
    of = " of this range" if cp.range_no is not None else ""
    return f"nothing after batch {cp.batches}{of} was committed by this run"


class _Paused(Exception):
    """The pause flag was set: the batch is rolled back and the runner waits."""


def run_backfill(
    connect: Callable[[], psycopg.Connection[Any]],
    *,
    schema: str,
    migration_id: str,
    index: int,
    spec: BackfillSpec,
    settings: Settings,
    progress: ProgressCallback | None = None,
    fence: Fence | None = None,
) -> BackfillResult:
    """Fill ``spec`` batch by batch from its checkpoint, then verify; see the module doc.

    With ``fence`` (the engine's lease), every batch commits only while the
    run still owns the migration lock.
    """
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(connect())
        # Watches who blocks a setup query (it waits on a lock, not on us).
        observer = stack.enter_context(connect())
        try:
            for each in (conn, observer):
                each.autocommit = True  # every batch opens its own explicit transaction
                immune_to_idle_timeout(each)
            runner = _Runner(
                conn, observer, schema, migration_id, index, spec, settings, progress, fence
            )
            runner.connect = connect
            stack.callback(runner.close)  # before the connections close: its watcher first
            return runner.run()
        except pg_errors.QueryCanceled as exc:
            raise DatabaseError(
                f"backfill {migration_id}[{index}] of {spec.table}: a statement was cancelled"
                f" ({one_line(exc)})",
                hint="raise statement_timeout if a limit cancelled it; run advance again:"
                " it resumes from the last committed batch",
            ) from None
        except psycopg.OperationalError as exc:
            raise DatabaseError(
                f"backfill {migration_id}[{index}] lost its database connection: {one_line(exc)}",
                hint="run advance again: it resumes from the last committed batch",
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover  (mypy: ExitStack may swallow)


class _Runner:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        observer: psycopg.Connection[Any],
        schema: str,
        migration_id: str,
        index: int,
        spec: BackfillSpec,
        settings: Settings,
        progress: ProgressCallback | None,
        fence: Fence | None,
        throttles: pool.Throttles | None = None,
        stop: threading.Event | None = None,
        slots: BatchSlots | None = None,
    ) -> None:
        self.conn = conn
        self.connect: Callable[[], psycopg.Connection[Any]] | None = None
        self.observer = observer
        self.fence = fence
        self.schema = schema
        self.migration_id = migration_id
        self.index = index
        self.spec = spec
        self.settings = settings
        self.progress = progress
        self.sizer = BatchSizer.for_spec(spec.batch_size, spec.target_batch_ms)
        # Shared by the workers of a parallel pass (one rate, one look at the standbys,
        # vacuum, lock waits and health_check), behind a lock.
        # The runner that made the checks closes them (its lock-wait watcher thread).
        self.checks: Throttles | None = None
        if throttles is None:
            self.checks = Throttles.for_spec(spec, schema, migration_id, conn)
            throttles = pool.Throttles.for_spec(spec, self.checks)
        shared = throttles
        self.limiter = shared.limiter
        self.wal_limiter = shared.wal_limiter
        self.replicas = shared.replicas
        self.stop = stop or threading.Event()  # set: a sibling worker failed, finish up
        self.slots = slots  # a parallel pass: how many workers may be in a batch now
        self.verify_workers = 1  # processes the verification count may use
        self.threads_used = 0  # workers of this run's parallel pass
        self.worker_count: int | None = None
        self.lock_timeout_ms = to_milliseconds(spec.lock_timeout or settings.lock_timeout)
        self.statement_timeout_ms = to_milliseconds(
            spec.statement_timeout or settings.statement_timeout
        )
        # Setup and verification read the whole table: the engine-wide statement limit.
        self.setup_timeout_ms = to_milliseconds(settings.statement_timeout)
        self.table = spec.table  # quoted, qualified name once resolved
        self.batch_ms: list[float] = []
        self.rows_updated = 0
        self.retries = 0
        self.started = time.monotonic()
        self.scanned_at_start = 0

    # -- the whole run -------------------------------------------------------------

    def close(self) -> None:
        if self.checks is not None:
            self.checks.close()

    def run(self) -> BackfillResult:
        # Setup statements run under the same limits as the batches (a table locked
        # by someone else must not make us wait forever), retried the same way.
        self.conn.execute(
            "SELECT set_config('lock_timeout', %s, false),"
            " set_config('statement_timeout', %s, false)",
            (f"{self.lock_timeout_ms}ms", f"{self.setup_timeout_ms}ms"),
        )
        cps.ensure_tables(self.conn, self.schema)
        info = resolve_table(self.conn, self.spec)
        self.table = info.ident.as_string(None)
        sql = KeysetSql(info.ident, info.key, info.key_types, self.spec)
        self._setup(
            info,
            "checking the batch statement",
            lambda: check_statements(self.conn, sql.update(lower=True), len(info.key)),
        )
        done = self._setup(
            info, "reading the checkpoint", lambda: self._already_verified(info, sql)
        )
        if done is not None:
            return done
        cp, resumed = self._setup(
            info, "finding the end key", lambda: self._start_or_resume(info, sql)
        )
        marks = [time.monotonic()]  # setup, split, batches, verification: for -vv
        ranges = self._setup(info, "splitting the key range", lambda: self._ranges(info, sql, cp))
        marks.append(time.monotonic())
        resumed = resumed or any(each.batches for each in ranges)
        self.scanned_at_start = cp.rows_scanned
        self.wal_limiter.wait_seconds(self.conn)  # the starting point
        if ranges:
            self._run_ranges(info, sql, cp, ranges)
        else:
            self.fill(info, sql, cp)
        marks.append(time.monotonic())
        # On one core unless N workers just had a quiet server to themselves: a
        # parallel count is a burst on every core at once, which the application's
        # p99 pays for (docs/performance.md).
        remaining = self._setup(
            info,
            "counting the rows left",
            lambda: count_remaining(self.conn, sql, processes=self.verify_workers),
        )
        marks.append(time.monotonic())
        log.debug(
            "backfill %s[%d]: setup %.3fs, split into %d ranges %.3fs, batches %.3fs,"
            " verification %.3fs (up to %d processes)",
            self.migration_id,
            self.index,
            marks[0] - self.started,
            len(ranges),
            marks[1] - marks[0],
            marks[2] - marks[1],
            marks[3] - marks[2],
            self.verify_workers,
        )
        cp.finished, cp.remaining = True, remaining
        if ranges:
            cp.last_key = cp.end_key  # every range reached its end
        with self._fenced(cp):
            cps.save(self.conn, self.schema, self.migration_id, self.index, cp)
        result = self._result(info, cp, resumed, remaining, ranges)
        log.info(
            "backfill %s[%d] %s: %d rows in %.1fs (%.0f rows/s), %d batches, %d retries",
            self.migration_id,
            self.index,
            info.display,
            result.rows_updated,
            result.seconds,
            result.rows_per_second,
            result.batches,
            result.retries,
        )
        raise_if_remaining(remaining, self.migration_id, self.index, info.display, self.spec)
        return result

    def fill(self, info: TableInfo, sql: KeysetSql, cp: cps.Checkpoint) -> None:
        """Batches from ``cp.last_key`` to ``cp.end_key``: the pass, or one range of it."""
        if cp.range_no is not None and cp.batches and cp.last_batch_size and self.sizer.adaptive:
            self.sizer.size = cp.last_batch_size  # a resumed range: its learnt size
        while not cp.finished and cp.end_key is not None and cp.last_key != cp.end_key:
            if self.stop.is_set():
                return
            try:
                exhausted = self._batch_with_retries(sql, cp)
            except _Paused:
                self._wait_while_paused(info, cp)
                continue
            if exhausted is None:
                return  # stopped while waiting for a slot
            self._report(info, cp)
            if exhausted:
                break
            self._throttle(info, cp)

    def _slot(self) -> contextlib.AbstractContextManager[bool]:
        """A parallel pass's batch waits for its slot; True: go ahead."""
        if self.slots is None:
            return contextlib.nullcontext(True)
        return self.slots.hold(self.stop)

    def _ranges(self, info: TableInfo, sql: KeysetSql, cp: cps.Checkpoint) -> list[cps.Checkpoint]:
        """The key ranges of a parallel pass; empty: one worker fills the pass itself.

        An interrupted parallel pass resumes its own ranges, whatever ``workers``
        says now. A pass not split yet (new, or a one-worker pass being resumed)
        is split from its last key when ``workers`` asks for more than one.
        """
        existing = cps.load_ranges(self.conn, self.schema, self.migration_id, self.index, cp)
        if existing or cp.end_key is None or cp.last_key == cp.end_key:
            return existing
        workers = self._workers(info)
        if workers <= 1:
            return []
        cuts = cut_keys(self.conn, sql, cp.last_key, cp.end_key, workers * FINE_PARTS_PER_WORKER)
        parts = merge_parts(split(cp.last_key, cuts, cp.end_key), workers)
        if len(parts) <= 1:
            return []
        ranges = [
            cps.Checkpoint(
                table_name=cp.table_name,
                key_columns=list(cp.key_columns),
                pass_number=cp.pass_number,
                last_key=part.first,
                end_key=part.end,
                range_no=number,
                first_key=part.first,
            )
            for number, part in enumerate(parts)
        ]
        with self._fenced(cp):
            cps.replace_ranges(self.conn, self.schema, self.migration_id, self.index, ranges)
        return ranges

    def _workers(self, info: TableInfo) -> int:
        """``workers`` of the spec; "auto" asks the server once per run."""
        if self.worker_count is None:
            workers = self.spec.workers
            self.worker_count = (
                workers if isinstance(workers, int) else auto_workers(self.conn, info.reltuples)
            )
        return self.worker_count

    def _run_ranges(
        self, info: TableInfo, sql: KeysetSql, cp: cps.Checkpoint, ranges: list[cps.Checkpoint]
    ) -> None:
        """Fill the ranges with up to ``workers`` threads, each on its own connection."""
        assert self.connect is not None
        connect = self.connect
        shared = pool.Throttles.shared(self.limiter, self.wal_limiter, self.replicas)
        threads = min(self._workers(info), sum(1 for r in ranges if r.last_key != r.end_key))
        self.threads_used = threads
        totals = pool.Progress(cp, ranges, self.progress, self.started, max(1, threads))
        stop = threading.Event()
        slots = BatchSlots(
            threads, self.spec.workers_when_busy, f"backfill {self.migration_id}[{self.index}]"
        )
        # One thread needs no gate. Without a watch (it could not start) the gate
        # stays at workers_when_busy: the side safe for the application.
        gate = slots if threads > 1 else None
        watch = ActivityWatch.start(self.conn, slots) if gate is not None else None
        if watch is not None:
            watch.add(self.observer)

        def worker(next_range: Callable[[], cps.Checkpoint | None]) -> None:
            with connect() as conn:
                conn.autocommit = True
                immune_to_idle_timeout(conn)
                if watch is not None:
                    watch.add(conn)
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, false),"
                    " set_config('statement_timeout', %s, false)",
                    (f"{self.lock_timeout_ms}ms", f"{self.setup_timeout_ms}ms"),
                )
                runner = _Runner(
                    conn,
                    self.observer,
                    self.schema,
                    self.migration_id,
                    self.index,
                    self.spec,
                    self.settings,
                    totals,
                    self.fence,
                    throttles=shared,
                    stop=stop,
                    slots=gate,
                )
                runner.table = self.table
                runner.sizer.size = self.sizer.size
                try:
                    while (each := next_range()) is not None:
                        runner.fill(info, sql, each)
                finally:
                    self._absorb(runner)

        try:
            pool.run(
                ranges,
                threads=threads,
                worker=worker,
                stop=stop,
                describe=lambda each: self._range_name(info, each, len(ranges)),
            )
            if watch is not None and self._unthrottled():
                # Nobody else working, now: the count may take the cores the
                # workers just had (one, when they were sharing the server).
                self.verify_workers = threads if watch.quiet_now() else 1
        finally:
            if watch is not None:
                watch.close()
                log.debug("backfill workers yielded to other sessions %.1fs", slots.seconds_busy())

    def _unthrottled(self) -> bool:
        """No limit asked the pass to be gentler than the server allows."""
        spec = self.spec
        return not (spec.pause_ms or spec.max_rows_per_second or spec.max_wal_bytes_per_second)

    def _absorb(self, worker: _Runner) -> None:
        """A finished worker's figures into this run's result (list.extend is atomic)."""
        self.batch_ms.extend(worker.batch_ms)
        with pool.TALLY:
            self.rows_updated += worker.rows_updated
            self.retries += worker.retries

    def _range_name(self, info: TableInfo, cp: cps.Checkpoint, count: int) -> str:
        key = ", ".join(info.key)
        first = f"({key}) > ({', '.join(cp.first_key)}) and " if cp.first_key else ""
        end = ", ".join(cp.end_key or [])
        return (
            f"backfill {self.migration_id}[{self.index}] of {info.display},"
            f" range {(cp.range_no or 0) + 1} of {count} ({first}({key}) <= ({end}))"
        )

    def _already_verified(self, info: TableInfo, sql: KeysetSql) -> BackfillResult | None:
        """A pass finished clean before (advance re-run after a crash): just re-verify."""
        cp = cps.load(self.conn, self.schema, self.migration_id, self.index)
        if cp is None or not cp.finished or cp.remaining != 0 or cp.key_columns != list(info.key):
            return None
        if count_remaining(self.conn, sql) != 0:
            return None  # rows went wrong since: a new pass fixes them
        ranges = cps.load_ranges(self.conn, self.schema, self.migration_id, self.index, cp)
        return self._result(info, cp, resumed=True, remaining=0, ranges=ranges)

    def _start_or_resume(self, info: TableInfo, sql: KeysetSql) -> tuple[cps.Checkpoint, bool]:
        cp = cps.load(self.conn, self.schema, self.migration_id, self.index)
        key = list(info.key)
        if cp is not None and cp.key_columns == key and not cp.finished:
            if cp.last_batch_size and self.sizer.adaptive:
                self.sizer.size = cp.last_batch_size  # pick up the learnt size
            return cp, cp.batches > 0
        # A new pass: first run, a changed key, or a finished pass being re-run
        # (re-verification; rows it left behind get another sweep).
        pass_number = cp.pass_number + 1 if cp is not None else 1
        row = self.conn.execute(sql.max_key()).fetchone()
        fresh = cps.Checkpoint(
            table_name=info.display,
            key_columns=key,
            end_key=list(row) if row else None,
            pass_number=pass_number,
            rows_estimate=info.reltuples,
        )
        with self._fenced(fresh):
            cps.save(self.conn, self.schema, self.migration_id, self.index, fresh)
        return fresh, False

    def _setup(self, info: TableInfo, what: str, unit: Callable[[], T]) -> T:
        """A setup statement: under lock_timeout, retried with backoff, naming who blocks."""
        result, _ = with_lock_retries(
            unit,
            work=self.conn,
            observer=self.observer,
            retries=self.settings.lock_retries,
            on_retry=lambda retry: None,  # with_lock_retries logs each one
            what=f"backfill {self.migration_id}[{self.index}] of {info.display}: {what}",
        )
        return result

    @contextlib.contextmanager
    def _fenced(self, cp: cps.Checkpoint) -> Iterator[None]:
        """A transaction that commits only while the run still owns the migration."""
        with self.conn.transaction():
            if self.fence is not None:
                self.fence.check(self.conn, what=self.migration_id, committed=_committed(cp))
            yield

    # -- one batch -------------------------------------------------------------------

    def _batch_with_retries(self, sql: KeysetSql, cp: cps.Checkpoint) -> bool | None:
        """Run the next batch; True when the key range is exhausted, None when stopped.

        Each try holds a slot of a parallel pass; the backoff between tries does not.
        """
        attempt = 0
        while True:
            try:
                with self._slot() as go:
                    if not go:
                        return None
                    return self._batch(sql, cp)
            except RETRYABLE as exc:
                attempt += 1
                self.retries += 1
                cp.retries += 1
                if attempt > self.settings.lock_retries:
                    blocked = (
                        f"; blocked by {self._table_lockers()}"
                        if isinstance(exc, pg_errors.LockNotAvailable)
                        else ""
                    )
                    raise DatabaseError(
                        f"backfill batch of {self.spec.table} failed {attempt} times in a row:"
                        f" {exc.sqlstate} {one_line(exc)}{blocked}",
                        hint="the table is busy; run advance again later (it resumes),"
                        " or raise lock_timeout / lower target_batch_ms in [backfill]",
                    ) from exc
                self.sizer.shrink()
                delay = min(MAX_BACKOFF_SECONDS, 0.05 * 2**attempt) * (0.5 + random.random() / 2)
                log.debug("batch retry %d after %s; sleeping %.2fs", attempt, exc.sqlstate, delay)
                time.sleep(delay)

    def _table_lockers(self) -> str:
        """After the last lock timeout: who holds a table lock that stops our UPDATE.

        The wait is over, so pg_blocking_pids() no longer knows; a session holding
        SHARE or stronger on the table is the usual suspect, else it was row locks.
        """
        try:
            rows = self.observer.execute(
                "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'relation' AND granted"
                " AND relation = to_regclass(%s) AND pid <> %s AND mode IN ('ShareLock',"
                " 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')",
                (self.table, self.conn.info.backend_pid),
            ).fetchall()
            found = describe_backends(self.observer, [row[0] for row in rows])
        except psycopg.Error:
            return "unknown"
        return found or "other transactions' row locks (none holds a table lock now)"

    def _batch(self, sql: KeysetSql, cp: cps.Checkpoint) -> bool:
        """One batch in one transaction, pipelined: three round trips.

        1. BEGIN, SET LOCAL timeouts and read the pause flag (one statement),
           find the upper key;
        2. the UPDATE;
        3. the checkpoint and COMMIT.
        ``cp`` is only advanced once the COMMIT went through.
        """
        busy = self.slots is None or self.slots.busy  # one look for the whole batch
        if self.slots is not None:
            self.sizer.retarget(self._target_ms(busy))
        size = self.sizer.size
        lower = cp.last_key
        assert cp.end_key is not None
        with self.conn.pipeline() as pipeline, self.conn.transaction():
            # synchronous_commit = off only for the workers of a parallel pass while no
            # other session works: safe (data and checkpoint commit together, and the
            # phase's own commit flushes them), but while an application commits it
            # moves our WAL flushes into its commits and raised their p99
            # (docs/performance.md).
            paused = cps.begin_batch(
                self.conn,
                self.schema,
                self.migration_id,
                lock_timeout_ms=self.lock_timeout_ms,
                statement_timeout_ms=self.statement_timeout_ms,
                wait_for_flush=busy,
            )
            # The lease row, FOR SHARE: a new owner's takeover waits for this COMMIT.
            owned = self.conn.execute(self.fence.query) if self.fence is not None else None
            started = time.monotonic()
            bound = find_upper(self.conn, sql, lower, cp.end_key, size)
            if self.fence is not None and owned is not None:
                # rolls back: nothing of this batch commits
                self.fence.verify(
                    owned.fetchone(), what=self.migration_id, committed=_committed(cp)
                )
            if cps.paused_result(paused):
                raise _Paused  # rolls back; nothing was locked yet
            after = replace(cp)
            if bound is None:  # nothing left in (last, end]: rows were deleted meanwhile
                after.last_key = list(cp.end_key)
                cps.save(self.conn, self.schema, self.migration_id, self.index, after)
                updated = scanned = 0
            else:
                upper, scanned = bound
                cur = self.conn.execute(
                    sql.queries.update[lower is not None], batch_params(lower, upper)
                )
                pipeline.sync()
                updated = max(cur.rowcount, 0)
                after.last_key = upper
                after.rows_done += updated
                after.rows_scanned += scanned
                after.batches += 1
                after.last_batch_size = size
                after.last_batch_ms = (time.monotonic() - started) * 1000
                after.busy_seconds += after.last_batch_ms / 1000
                cps.save(self.conn, self.schema, self.migration_id, self.index, after)
        # measured after COMMIT: that is how long the rows stayed locked
        elapsed_ms = (time.monotonic() - started) * 1000
        self._advance(cp, after)
        if bound is None:
            return True
        self.batch_ms.append(elapsed_ms)
        self.rows_updated += updated
        self.sizer.observe(scanned, elapsed_ms)
        self.limiter.add(updated)
        return scanned < size or after.last_key == cp.end_key

    def _target_ms(self, busy: bool) -> int:
        """How long a batch may keep its rows locked now.

        While no other session works, nobody waits for those locks: a parallel
        pass's batches grow to ``quiet_batch_ms``, which costs less per row
        (measured: performance.md). Once others work they shrink back at the
        next batch; the batch in flight then is the longest anyone waits.
        """
        target = self.spec.target_batch_ms
        return target if busy else max(target, self.spec.quiet_batch_ms)

    @staticmethod
    def _advance(cp: cps.Checkpoint, after: cps.Checkpoint) -> None:
        for name, value in vars(after).items():
            setattr(cp, name, value)

    # -- between batches -------------------------------------------------------------

    def _wait_while_paused(self, info: TableInfo, cp: cps.Checkpoint) -> None:
        while cps.is_paused(self.conn, self.schema, self.migration_id):
            if self.stop.is_set():
                return
            self._report(info, cp, paused=True, reason="paused")
            time.sleep(PAUSE_POLL_SECONDS)

    def _throttle(self, info: TableInfo, cp: cps.Checkpoint) -> None:
        while reason := self.replicas.wait_reason(self.conn):
            if self.stop.is_set():
                return
            self._report(info, cp, reason=reason)
            time.sleep(PAUSE_POLL_SECONDS)
        wal_wait = self.wal_limiter.wait_seconds(self.conn)
        if wal_wait > 0:
            self._report(info, cp, reason="WAL rate above max_wal_bytes_per_second")
        wait = max(self.spec.pause_ms / 1000, self.limiter.add(0), wal_wait)
        if wait > 0:
            time.sleep(wait)

    def _report(
        self,
        info: TableInfo,
        cp: cps.Checkpoint,
        *,
        paused: bool = False,
        reason: str | None = None,
    ) -> None:
        if self.progress is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        scanned_now = cp.rows_scanned - self.scanned_at_start
        rate = scanned_now / elapsed
        # reltuples is an estimate: never let it claim we are past the end
        estimate = max(cp.rows_estimate, int(cp.rows_scanned * 1.02) + 1)
        if cp.last_key == cp.end_key:
            estimate = cp.rows_scanned
        eta = (estimate - cp.rows_scanned) / rate if rate > 0 else None
        self.progress(
            BackfillProgress(
                migration_id=self.migration_id,
                index=self.index,
                table=info.display,
                rows_done=cp.rows_done,
                rows_scanned=cp.rows_scanned,
                rows_estimate=estimate,
                rows_per_second=self.rows_updated / elapsed,
                eta_seconds=eta,
                batch_size=self.sizer.size,
                last_batch_ms=cp.last_batch_ms,
                paused=paused,
                throttled_reason=reason,
            )
        )

    def _result(
        self,
        info: TableInfo,
        cp: cps.Checkpoint,
        resumed: bool,
        remaining: int,
        ranges: list[cps.Checkpoint] | None = None,
    ) -> BackfillResult:
        seconds = time.monotonic() - self.started
        rows_done = cp.rows_done + sum(each.rows_done for each in ranges or [])
        return BackfillResult(
            migration_id=self.migration_id,
            index=self.index,
            table=info.display,
            key=list(info.key),
            rows_updated=self.rows_updated,
            rows_done=rows_done,
            batches=len(self.batch_ms),
            retries=self.retries,
            seconds=seconds,
            rows_per_second=self.rows_updated / seconds if seconds > 0 else 0.0,
            batch_ms_median=statistics.median(self.batch_ms) if self.batch_ms else 0.0,
            batch_ms_max=max(self.batch_ms, default=0.0),
            resumed=resumed,
            remaining=remaining,
            workers=self.threads_used or workers_of(len(ranges or [])),
        )
