"""Run a PhasePlan: transactional groups commit with the state, autocommit steps one by one.

Consecutive transactional statements form one group that runs in a single
transaction together with the state update recording them done (and, for the
last group, the phase done). A statement that cannot run in a transaction runs
alone in autocommit and is recorded right after; it is written to be safely
re-run (an INVALID index left by a failed CREATE INDEX CONCURRENTLY is dropped
first). A re-run after a crash resumes at the first step not recorded done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from expandctl.engine import events, lanes
from expandctl.engine.checks import run_check
from expandctl.engine.connection import Connection, database_error
from expandctl.engine.fencing import Fence
from expandctl.engine.retry import Retry, backoff_delay, with_lock_retries
from expandctl.engine.store import StateStore
from expandctl.errors import DatabaseError, ExpandctlError
from expandctl.model.config import Settings
from expandctl.model.durations import format_duration
from expandctl.model.migration import Migration
from expandctl.model.phases import State
from expandctl.model.planning import without_comments
from expandctl.model.redact import redact
from expandctl.model.state import Actor, InProgress, MigrationRecord, PhaseRecord
from expandctl.model.step_text import step_full_text, step_headline
from expandctl.model.steps import (
    BackfillStep,
    CheckStep,
    Direction,
    PhasePlan,
    ResetBackfillStep,
    SqlStep,
    Step,
    step_checksum,
)
from expandctl.model.words import plural

if TYPE_CHECKING:
    from expandctl.engine.backfill.models import BackfillProgress

log = logging.getLogger("expandctl")
# The full SQL of each step (function bodies and all); the CLI shows it with -v.
sql_log = logging.getLogger("expandctl.sql")
_CONCURRENTLY = re.compile(r"\bconcurrently\b", re.IGNORECASE)

# The statements that build or drop an index CONCURRENTLY: index_timeout bounds
# them instead of statement_timeout (unnamed builds and REINDEX included).
_INDEX_CONCURRENTLY = re.compile(
    r"^(?:create\s+(?:unique\s+)?index|drop\s+index|reindex)\b.*\bconcurrently\b", re.IGNORECASE
)

# Test-only hooks, never for production: sleep after recording this many steps
# done (PAUSE_ENV), or after running this 1-based autocommit step but before
# recording it (PAUSE_BEFORE_RECORD_ENV), so a test can kill -9 the process at
# an exact point. PAUSE_SECONDS_ENV bounds the sleep (default an hour). They do
# nothing unless HOOKS_ARMED_ENV=1 too: one stray variable in production must not
# hold the migration lock for an hour.
PAUSE_ENV = "EXPANDCTL_TEST_PAUSE_AFTER_STEP"
PAUSE_BEFORE_RECORD_ENV = "EXPANDCTL_TEST_PAUSE_BEFORE_RECORD"
PAUSE_SECONDS_ENV = "EXPANDCTL_TEST_PAUSE_SECONDS"
HOOKS_ARMED_ENV = "EXPANDCTL_TEST_HOOKS_ARMED"
_unarmed_warned: set[str] = set()
CONCURRENT_UPDATE_RETRIES = 5
LANE_CHECK_S = 2.0  # a parked backfill checks its lane connection this often
ORPHAN_POLL_S = 0.2  # warn once per process about an ignored hook


@dataclass
class RunContext:
    work: Connection  # autocommit; runs steps, explicit transactions around groups
    control: Connection  # autocommit; holds the advisory lock, writes events, watches locks
    store: StateStore
    actor: Actor
    settings: Settings
    connect: Callable[[], Connection]  # fresh connections (for the backfill runner)
    fence: Fence  # the lease taken with the lock: every work transaction checks it
    secrets: tuple[str | None, ...] = ()
    # Called after every backfill batch (the CLI draws a bar or logs a line).
    progress: Callable[[BackfillProgress], None] | None = None


@dataclass
class PhaseRun:
    migration_id: str
    phase: str
    direction: str
    steps_total: int
    steps_run: int
    resumed_from: int | None
    retries: int
    duration_ms: int
    skipped: list[int] = field(default_factory=list)  # found already done on resume


def group_steps(steps: list[Step], start: int) -> Iterator[list[tuple[int, Step]]]:
    """Consecutive transactional steps together; every autocommit step alone."""
    group: list[tuple[int, Step]] = []
    for index in range(start, len(steps)):
        step = steps[index]
        if step.autocommit:
            if group:
                yield group
                group = []
            yield [(index, step)]
        else:
            group.append((index, step))
    if group:
        yield group


def _where(step: Step) -> str:
    if isinstance(step, SqlStep):
        return f"{step.source}:{step.line}" if step.line else step.source
    return step.kind


def run_plan(
    ctx: RunContext, plan: PhasePlan, migration: Migration, record: MigrationRecord
) -> PhaseRun:
    """Run (or resume) one phase, holding the migration's lane throughout."""
    # Every event emitted while the phase runs (a lock retry, a backfill tick) names it.
    with (
        lanes.lane(ctx.control, ctx.store.schema, plan.migration_id),
        events.scope(
            migration=plan.migration_id, phase=plan.phase.value, direction=plan.direction.value
        ),
    ):
        return _run_plan(ctx, plan, migration, record)


def _run_plan(
    ctx: RunContext, plan: PhasePlan, migration: Migration, record: MigrationRecord
) -> PhaseRun:
    started = time.monotonic()
    total = len(plan.steps)
    resume = record.in_progress
    resuming = resume is not None and (resume.phase, resume.direction) == (
        plan.phase,
        plan.direction,
    )
    if resume is not None and resuming:
        start = resume.next_step
        progress = resume
        log.info(
            "resuming %s of %s at step %d/%d (interrupted run by %s)",
            plan.phase.value,
            plan.migration_id,
            start + 1,
            total,
            resume.by,
        )
    else:
        start = 0
        autocommit = sum(1 for step in plan.steps if step.autocommit)
        log.info(
            "%s %s of %s: %s (%d in transactions, %d in autocommit)",
            "rolling back" if plan.direction is Direction.ROLLBACK else "running",
            plan.phase.value,
            plan.migration_id,
            plural(total, "step"),
            total - autocommit,
            autocommit,
        )
        progress = InProgress(
            phase=plan.phase,
            direction=plan.direction,
            next_step=0,
            total_steps=total,
            checksum=migration.phase_checksums[plan.phase],
            file_checksums=migration.file_checksums.get(plan.phase, {}),
            started_at=ctx.store.now(ctx.work),
            by=str(ctx.actor),
            step_checksums=tuple(step_checksum(step) for step in plan.steps),
        )
    phase = _Phase(
        ctx,
        plan,
        migration,
        record,
        progress,
        report=PhaseRun(
            migration_id=plan.migration_id,
            phase=plan.phase.value,
            direction=plan.direction.value,
            steps_total=total,
            steps_run=0,
            resumed_from=start if resuming else None,
            retries=0,
            duration_ms=0,
        ),
        resume_at=start if resuming else None,
        recorded=start,
    )
    if not resuming:
        with phase.fenced():
            ctx.store.mark_started(ctx.work, plan.migration_id, progress)
        _test_pause(PAUSE_ENV, 0)
    _event(
        ctx,
        plan,
        "phase",
        "resumed" if resuming else "started",
        detail=f"at step {start + 1} of {total}" if resuming else plural(total, "step"),
    )
    events.emit(
        "phase_started",
        f"{plan.phase.value} of {plan.migration_id} started",
        steps_total=total,
        resumed_from_step=start + 1 if resuming else None,
    )
    _timeouts(ctx.work, ctx.settings, local=False)
    run = phase.report
    groups = list(group_steps(plan.steps, start))
    try:
        for number, group in enumerate(groups):
            phase.at = group[0]
            phase.recorded = group[0][0]
            phase.check_still_owned()
            run.retries += phase.run_group(group, last=number == len(groups) - 1)
            run.steps_run += len(group)
            for index, step in group:
                events.emit(
                    "step_finished",
                    f"step {index + 1}/{total} done",
                    step=index + 1,
                    steps_total=total,
                    kind=step.kind,
                    autocommit=step.autocommit,
                )
            _test_pause(PAUSE_ENV, group[-1][0] + 1)
        if not groups:
            with phase.fenced():
                phase.finish()
    except ExpandctlError as exc:
        _fail(ctx, plan, str(exc), started)
        exc.recorded = True  # type: ignore[attr-defined]  # logged here; callers need not
        raise
    except KeyboardInterrupt:
        _fail(ctx, plan, "interrupted (Ctrl-C)", started, result="interrupted")
        raise
    except psycopg.Error as exc:
        error = _step_error(ctx, plan, migration, phase.at, exc, phase.recorded, total)
        _fail(ctx, plan, error.message, started)
        raise error from None
    run.duration_ms = int((time.monotonic() - started) * 1000)
    events.emit(
        "phase_finished",
        f"{plan.phase.value} of {plan.migration_id} done",
        result="ok",
        seconds=run.duration_ms / 1000,
        steps_run=run.steps_run,
        lock_retries=run.retries,
    )
    try:
        _event(
            ctx,
            plan,
            "phase",
            "ok",
            duration_ms=run.duration_ms,
            detail=f"{plural(run.steps_run, 'step')} run"
            + (f", {run.retries} lock retries" if run.retries else ""),
        )
    except psycopg.Error as exc:
        # The phase is recorded done (with the state, on the work connection); only
        # the log line is missing. Failing here would make a re-run start the next phase.
        log.warning(
            "%s of %s is done, but its 'ok' event could not be recorded: %s",
            plan.phase.value,
            plan.migration_id,
            redact(" ".join(str(exc).split()), *ctx.secrets),
        )
    return run


@dataclass
class _Phase:
    """One phase being run: what every group of it needs, in one place."""

    ctx: RunContext
    plan: PhasePlan
    migration: Migration
    record: MigrationRecord
    progress: InProgress
    report: PhaseRun
    resume_at: int | None  # the step index an interrupted run resumed at
    recorded: int  # steps before this index are recorded done
    at: tuple[int, Step] | None = None  # the step running now, for messages

    @property
    def total(self) -> int:
        return len(self.plan.steps)

    def what(self) -> str:
        """The step running now: a lock wait names the statement actually waiting."""
        phase = f"{self.plan.phase.value} of {self.plan.migration_id}"
        if self.at is None:
            return phase
        index, step = self.at
        return f"step {index + 1} ({_where(step)}) of {phase}"

    def committed(self) -> str:
        if not self.recorded:
            return "nothing was committed by this run"
        return f"nothing after step {self.recorded}/{self.total} was committed by this run"

    @contextlib.contextmanager
    def fenced(self) -> Iterator[None]:
        """A work transaction that commits only while this run still owns the migration."""
        with self.ctx.work.transaction():
            self.ctx.fence.check(
                self.ctx.work, what=self.plan.migration_id, committed=self.committed()
            )
            yield

    def check_still_owned(self) -> None:
        """Stop before the next step if the connection holding the advisory lock is gone.

        The lock is session-level: when that connection dies the lock is released,
        and another expandctl may take it. The fence (checked in every transaction)
        makes sure this run commits nothing more; stopping here also keeps it from
        starting an autocommit step another run may be running too.
        """
        try:
            self.ctx.control.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
        with self.fenced():  # raises LostOwnershipError when another run took over
            pass
        stopped = self.recorded + 1
        raise DatabaseError(
            redact(
                f"{self.plan.phase.value} of {self.plan.migration_id} stopped before step "
                f"{stopped}/{self.total}: lost the connection holding the advisory lock "
                f"({reason}); {self.committed()}",
                *self.ctx.secrets,
            ),
            hint=f"steps before {stopped} are recorded done; run the same command again to resume",
        ) from None

    def finish(self) -> None:
        _finish(self.ctx, self.plan, self.migration, self.record, self.progress)

    def record_done(self, next_step: int, *, last: bool) -> None:
        if last:
            self.finish()
        else:
            self.ctx.store.mark_step(self.ctx.work, self.plan.migration_id, next_step)

    def on_retry(self, retry: Retry) -> None:
        _event(
            self.ctx,
            self.plan,
            "retry",
            retry.reason.replace(" ", "-"),
            detail=f"{self.what()}: retry {retry.attempt} in {retry.delay_s:.2f}s; "
            f"blocked by {retry.blocker}",
        )

    def with_lock_retries(self, unit: Callable[[], None]) -> int:
        _, retries = with_lock_retries(
            unit,
            work=self.ctx.work,
            observer=self.ctx.control,
            retries=self.ctx.settings.lock_retries,
            on_retry=self.on_retry,
            what=self.what,
        )
        return retries

    def run_group(self, group: list[tuple[int, Step]], *, last: bool) -> int:
        """Run one group and record it done; returns the lock retries it took."""
        ctx = self.ctx
        first_index, first = group[0]
        next_step = group[-1][0] + 1
        for index, step in group:
            log.info(
                "[%d/%d] %s %s",
                index + 1,
                self.total,
                "autocommit" if step.autocommit else "transaction",
                step_headline(step),
            )
            full = step_full_text(step)
            if full is not None:
                sql_log.info("%s", full)
        if isinstance(first, BackfillStep):
            _run_backfill(ctx, self.plan, first)
            retries = 0
        elif first.autocommit:
            assert isinstance(first, SqlStep)
            retries = self.with_lock_retries(lambda: self._autocommit(first_index, first))
        else:

            def transaction_unit() -> None:
                with self.fenced():
                    _timeouts(ctx.work, ctx.settings, local=True)
                    for index, step in group:
                        self.at = (index, step)
                        if isinstance(step, SqlStep):
                            ctx.work.execute(_query(step.sql))
                        elif isinstance(step, CheckStep):
                            run_check(ctx.work, step)
                        elif isinstance(step, ResetBackfillStep):
                            _reset_backfill(ctx, self.plan)
                    self.record_done(next_step, last=last)

            return self.with_lock_retries(transaction_unit)
        _test_pause(PAUSE_BEFORE_RECORD_ENV, first_index + 1)
        # An autocommit step is recorded in its own small transaction right after it ran.
        with self.fenced():
            self.record_done(next_step, last=last)
        return retries

    def _autocommit(self, index: int, step: SqlStep) -> None:
        for attempt in range(1, CONCURRENT_UPDATE_RETRIES + 1):
            try:
                self._autocommit_once(index, step)
                return
            except pg_errors.InternalError_ as exc:
                # Two backends changed one catalog row: an interrupted run's build that
                # was still finishing. Look again: the index may now be valid or gone.
                if "tuple concurrently updated" not in str(exc):
                    raise
                if attempt == CONCURRENT_UPDATE_RETRIES:
                    raise
                log.warning("%s: %s; looking again", self.what(), " ".join(str(exc).split()))
                time.sleep(backoff_delay(attempt))

    def _autocommit_once(self, index: int, step: SqlStep) -> None:
        ctx = self.ctx
        resuming = self.resume_at == index
        if step.concurrent_index is not None:
            _wait_for_orphan_build(ctx.work, step.concurrent_index, ctx.settings.index_timeout)
        if _prepare_concurrent_index(ctx.work, step, resuming=resuming):
            self.report.skipped.append(index)
            return
        if not _CONCURRENTLY.search(without_comments(step.sql)):
            ctx.work.execute(_query(step.sql))
            return
        # A CONCURRENTLY statement waits for every older snapshot in the database
        # (a report, pg_dump) without blocking reads or writes; a short lock_timeout
        # would only make it fail, leave an INVALID index, and rebuild it again.
        ctx.work.execute("SELECT set_config('lock_timeout', '0', false)")
        if is_concurrent_index_step(step):
            # An index build can rightly take hours: it has its own limit.
            ctx.work.execute(
                "SELECT set_config('statement_timeout', %s, false)",
                (format_duration(ctx.settings.index_timeout),),
            )
        try:
            ctx.work.execute(_query(step.sql))
        finally:
            if not ctx.work.closed:
                _timeouts(ctx.work, ctx.settings, local=False)


def is_concurrent_index_step(step: SqlStep) -> bool:
    """Runs under index_timeout instead of statement_timeout."""
    if not step.autocommit:
        return False
    return step.concurrent_index is not None or bool(
        _INDEX_CONCURRENTLY.match(without_comments(step.sql))
    )


def _query(text: str) -> sql.SQL:
    # The statement comes from the migration's own files: it is the SQL to run.
    return sql.SQL(text)


def _timeouts(conn: Connection, settings: Settings, *, local: bool) -> None:
    conn.execute(
        "SELECT set_config('lock_timeout', %s, %s), set_config('statement_timeout', %s, %s)",
        (
            format_duration(settings.lock_timeout),
            local,
            format_duration(settings.statement_timeout),
            local,
        ),
    )


def _wait_for_orphan_build(conn: Connection, index: str, limit: timedelta) -> None:
    """Wait while another backend still builds this index: a killed run's, still running.

    We hold the migration lock, so that build belongs to a run that is gone; its
    backend only notices when the build ends. Dropping or rebuilding the index
    meanwhile fails ("tuple concurrently updated"); once it ends, the index is
    valid (and skipped) or INVALID (and rebuilt).
    """
    deadline = time.monotonic() + limit.total_seconds() if limit else None
    said = False
    while True:
        row = conn.execute(
            "SELECT p.pid, a.application_name FROM pg_stat_progress_create_index p"
            " JOIN pg_stat_activity a USING (pid)"
            " WHERE p.index_relid = coalesce(to_regclass(%s), 0) AND p.pid <> pg_backend_pid()"
            # Builds in other databases of the server (relid 0 early on) are not ours.
            " AND p.datname = current_database()",
            (index,),
        ).fetchone()
        if row is None:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise DatabaseError(
                f"index {index} is still being built by pid {row[0]} (application "
                f"{row[1]!r}), an interrupted run's build, after index_timeout",
                hint="wait for it to finish, or end it with pg_cancel_backend, then run again",
            )
        if not said:
            log.warning(
                "index %s is still being built by pid %s (application %r), an interrupted "
                "run's build: waiting for it to end",
                index,
                row[0],
                row[1],
            )
            said = True
        time.sleep(ORPHAN_POLL_S)


def _prepare_concurrent_index(conn: Connection, step: SqlStep, *, resuming: bool) -> bool:
    """Make a CONCURRENTLY index step safe to re-run; True when it is already done."""
    if step.concurrent_index is None:
        return False
    row = conn.execute(
        "SELECT n.nspname, c.relname, i.indisvalid FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_index i ON i.indexrelid = c.oid WHERE c.oid = to_regclass(%s)",
        (step.concurrent_index,),
    ).fetchone()
    if step.concurrent_action == "drop":
        return row is None and resuming
    if row is None:
        return False
    schema, name, valid = row
    if not valid:
        log.warning("dropping INVALID index %s.%s left by an interrupted build", schema, name)
        conn.execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name))
        )
        return False
    # A valid index on resume: the interrupted run built it but died before recording.
    return resuming


def _run_backfill(ctx: RunContext, plan: PhasePlan, step: BackfillStep) -> None:
    from expandctl.engine.backfill import run_backfill  # only phases that backfill pay for it

    schema = ctx.store.schema
    # Other migrations may advance while the batches run (see engine.lanes).
    lane_fence = lanes.hand_back(
        ctx.control, ctx.work, schema, plan.migration_id, ctx.actor, ctx.settings
    )
    try:
        result = run_backfill(
            ctx.connect,
            schema=schema,
            migration_id=plan.migration_id,
            index=step.index,
            spec=step.spec,
            settings=ctx.settings,
            progress=_lane_watch(
                ctx, plan, events.reporting("backfill_progress", _tick_message, ctx.progress)
            ),
            fence=lane_fence,
        )
    except BaseException:
        # Record the failure under the schema lock if it can be had; the error wins.
        with contextlib.suppress(ExpandctlError, psycopg.Error):
            ctx.fence = lanes.take_back(
                ctx.control,
                ctx.work,
                schema,
                ctx.actor,
                ctx.settings,
                wait=ctx.settings.advisory_lock_wait,  # Ctrl-C must not hang for minutes
            )
        raise
    ctx.fence = lanes.take_back(ctx.control, ctx.work, schema, ctx.actor, ctx.settings)
    summary = (
        f"backfill {result.table}: {result.rows_updated} rows in "
        f"{plural(result.batches, 'batch', 'batches')}, "
        f"{result.seconds:.1f}s ({result.retries} batch retries)"
    )
    log.debug("%s", summary)
    events.emit("backfill_finished", summary, **result.model_dump(exclude={"migration_id", "key"}))
    _event(ctx, plan, "backfill", "ok", duration_ms=int(result.seconds * 1000), detail=summary)


def _lane_watch(
    ctx: RunContext, plan: PhasePlan, inner: Callable[[BackfillProgress], None] | None
) -> Callable[[BackfillProgress], None]:
    """Stop the batches once the connection holding the lane is gone.

    With the schema lock handed back, only a run of this same migration would
    bump the lane token and fence the batches out; without one, a run whose lock
    connection died would go on for hours, unseen by ``status``.
    """
    checked = time.monotonic()

    def tick(progress: BackfillProgress) -> None:
        nonlocal checked
        if time.monotonic() - checked >= LANE_CHECK_S:
            checked = time.monotonic()
            try:
                ctx.control.execute("SELECT 1")
            except psycopg.Error as exc:
                reason = redact(" ".join(str(exc).split()), *ctx.secrets)
                raise DatabaseError(
                    f"backfill of {plan.migration_id} stopped: lost the connection holding"
                    f" its lane ({reason}); every batch it committed is checkpointed",
                    hint="run the same command again to resume",
                ) from None
        if inner is not None:
            inner(progress)

    return tick


def _tick_message(tick: BackfillProgress) -> str:
    return f"backfill {tick.table}: {tick.rows_done} rows done" + (
        f" ({tick.throttled_reason})" if tick.throttled_reason else ""
    )


def _reset_backfill(ctx: RunContext, plan: PhasePlan) -> None:
    from expandctl.engine.backfill import reset_backfill

    reset_backfill(ctx.work, schema=ctx.store.schema, migration_id=plan.migration_id)


def _finish(
    ctx: RunContext,
    plan: PhasePlan,
    migration: Migration,
    record: MigrationRecord,
    progress: InProgress,
) -> None:
    phases = dict(record.phases)
    if plan.direction is Direction.FORWARD:
        phases[plan.phase] = PhaseRecord(
            started_at=progress.started_at,
            finished_at=ctx.store.now(ctx.work),
            by=str(ctx.actor),
            checksum=progress.checksum,
            file_checksums=progress.file_checksums,
        )
        state = State.after(plan.phase)
    else:
        phases.pop(plan.phase, None)
        state = State.after(plan.phase.previous)
    ctx.store.mark_finished(ctx.work, plan.migration_id, state=state, phases=phases)


def _step_error(
    ctx: RunContext,
    plan: PhasePlan,
    migration: Migration,
    current: tuple[int, Step] | None,
    exc: psycopg.Error,
    recorded: int,
    total: int,
) -> ExpandctlError:
    where = f" at step {current[0] + 1}/{total} ({_where(current[1])})" if current else ""
    lost = isinstance(exc, psycopg.OperationalError) and "connection" in str(exc).lower()
    what = "lost the connection" if lost else "failed"
    error = database_error(f"{plan.phase.value} of {plan.migration_id} {what}{where}", exc)
    error.message = redact(error.message, *ctx.secrets)
    error.args = (error.message,)
    if current is not None and isinstance(current[1], SqlStep) and current[1].line:
        source = Path(migration.path) / current[1].source
        if source.is_file():  # a phase file (an operation's SQL has no file of its own)
            error.path, error.line = source, current[1].line
    # A failed transaction group rolls back whole: only the groups before it count.
    done = (
        f"steps before {recorded + 1} are recorded done" if recorded else "no step is recorded done"
    )
    advice = _timeout_advice(ctx.settings, current[1] if current else None, exc)
    error.hint = f"{done}; {advice or 'fix the cause'} and run the same command again to resume"
    return error


def _timeout_advice(settings: Settings, step: Step | None, exc: psycopg.Error) -> str | None:
    """Which limit to raise, when the timeout the engine set cancelled the step."""
    if not isinstance(exc, pg_errors.QueryCanceled) or not isinstance(step, SqlStep):
        return None
    if "statement timeout" not in (exc.diag.message_primary or ""):
        return None  # cancelled by someone (pg_cancel_backend), not by a limit
    if is_concurrent_index_step(step):
        limit = format_duration(settings.index_timeout)
        return (
            f"the index step ran longer than index_timeout ({limit}): raise it "
            '("0" is no limit; the INVALID index left behind is dropped and rebuilt)'
        )
    limit = format_duration(settings.statement_timeout)
    return f"the step ran longer than statement_timeout ({limit}): raise it"


def _fail(
    ctx: RunContext,
    plan: PhasePlan,
    message: str,
    started: float,
    result: str = "failed",
) -> None:
    """Record the failure if the database still answers; never mask the real error."""
    events.emit(
        "phase_finished",
        redact(message, *ctx.secrets),
        level=logging.ERROR,
        result=result,
        seconds=round(time.monotonic() - started, 3),
    )
    if (
        not ctx.work.closed
        and ctx.work.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    ):
        with contextlib.suppress(psycopg.Error):
            ctx.work.rollback()
    try:
        _event(
            ctx,
            plan,
            "phase",
            "failed",
            duration_ms=int((time.monotonic() - started) * 1000),
            detail=message,
        )
    except psycopg.Error:
        log.debug("could not record the failure event", exc_info=True)


def _event(
    ctx: RunContext,
    plan: PhasePlan,
    action: str,
    outcome: str,
    *,
    duration_ms: int | None = None,
    detail: str | None = None,
) -> None:
    ctx.store.append_event(
        ctx.control,
        ctx.actor,
        action=action,
        outcome=outcome,
        migration_id=plan.migration_id,
        phase=plan.phase,
        direction=plan.direction,
        duration_ms=duration_ms,
        detail=detail,
        secrets=ctx.secrets,
    )


def _test_pause(variable: str, step: int) -> None:
    wanted = os.environ.get(variable)
    if not wanted:
        return
    if os.environ.get(HOOKS_ARMED_ENV) != "1":
        if variable not in _unarmed_warned:
            _unarmed_warned.add(variable)
            log.warning(
                "ignoring %s: it is a test-only hook (it sleeps holding the migration lock) "
                "and %s=1 is not set; unset %s",
                variable,
                HOOKS_ARMED_ENV,
                variable,
            )
        return
    if wanted.isdigit() and int(wanted) == step:
        seconds = float(os.environ.get(PAUSE_SECONDS_ENV, "3600"))
        # Tests wait for this line on stderr ("expandctl test pause") before they kill us.
        log.warning(
            "expandctl test pause: %s=%d (armed by %s=1): sleeping %gs holding the "
            "migration lock; never set these outside tests",
            variable,
            step,
            HOOKS_ARMED_ENV,
            seconds,
        )
        time.sleep(seconds)
