"""Health-governed backfill on a real server: lock waiters, VACUUM, the user's health_check."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from expandctl.engine.backfill import BackfillProgress
from expandctl.engine.connection import current_actor
from expandctl.engine.store import StateStore
from expandctl.errors import ManifestError
from tests.backfill.helpers import SCHEMA, make_users, run, scalar, spec, wrong_rows
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db

GATE = 4242  # advisory lock key the test holds to stop a batch halfway
WAIT_S = 30.0


def _until(what: str, check: Any, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)
    return value


def _with_state_schema(db: PgDatabase) -> None:
    """The event log, so waits are recorded (run_backfill alone does not create it)."""
    with db.connect(autocommit=True) as conn:
        StateStore(SCHEMA).ensure(conn, current_actor())


def _waits(db: PgDatabase) -> list[tuple[str, int, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT outcome, duration_ms, detail FROM expandctl.events"
            " WHERE action = 'backfill-wait' ORDER BY id"
        ).fetchall()
    return [(str(o), int(d), str(t)) for o, d, t in rows]


class Reports:
    """The progress callback: every report, in order."""

    def __init__(self) -> None:
        self.seen: list[BackfillProgress] = []

    def __call__(self, progress: BackfillProgress) -> None:
        self.seen.append(progress)

    def waiting(self, text: str) -> list[BackfillProgress]:
        return [p for p in self.seen if p.throttled_reason and text in p.throttled_reason]


# -- lock waits -------------------------------------------------------------------------


@pytest.fixture
def gated_users(pg_database: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    """users with 300 rows whose batch stops at row 150 while the test holds GATE."""
    make_users(pg_database, 300)
    _with_state_schema(pg_database)
    with pg_database.connect(autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION gated_lower(i bigint, e text) RETURNS text LANGUAGE plpgsql AS $$"
            f" BEGIN IF i = 150 THEN PERFORM pg_advisory_lock_shared({GATE});"
            f" PERFORM pg_advisory_unlock_shared({GATE}); END IF; RETURN lower(e); END $$"
        )
    with pg_database.connect(autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        yield gate


def _blocked_update(db: PgDatabase, done: list[int]) -> threading.Thread:
    """A second session updating row 101, which the stopped batch has already locked."""

    def update() -> None:
        with db.connect(autocommit=True) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            done.append(int(row[0]))
            conn.execute("UPDATE users SET email = email WHERE id = 101")
            done.append(-1)

    thread = threading.Thread(target=update)
    thread.start()
    return thread


def _watcher_has_looked_after(db: PgDatabase, waiter: int) -> None:
    """Two samples of the lock watch started after the waiter began to wait: one finished."""
    query = (
        "SELECT a.query_start FROM pg_stat_activity a"
        " WHERE a.application_name = 'expandctl lock-wait watch'"
        " AND a.query_start > (SELECT max(waitstart) FROM pg_locks WHERE pid = %s)"
    )
    first = _until("the lock watch sampled", lambda: scalar_or_none(db, query, (waiter,)))
    _until(
        "the lock watch sampled again",
        lambda: (scalar_or_none(db, query, (waiter,)) or first) > first,
    )


def scalar_or_none(db: PgDatabase, query: str, params: tuple[Any, ...]) -> Any:
    with db.connect() as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def _gated_run(db: PgDatabase, gate: psycopg.Connection[Any], **overrides: Any) -> Reports:
    reports = Reports()
    waiter: list[int] = []
    result: list[Any] = []

    def backfill() -> None:
        result.append(
            run(
                db,
                spec(
                    set={"email_norm": "gated_lower(id, email)"},
                    batch_size=100,
                    lock_timeout="30s",  # the stopped batch waits for GATE meanwhile
                    **overrides,
                ),
                progress=reports,
            )
        )

    runner = threading.Thread(target=backfill)
    runner.start()
    try:
        # the second batch (ids 101..200) stops at row 150, with 101..149 already locked
        _until(
            "a batch waits at the gate",
            lambda: scalar(
                db,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event = 'advisory' AND datname = current_database()",
            ),
        )
        blocked = _blocked_update(db, waiter)
        # The waiter really waits on the backfill's batch (it holds row 101's lock).
        pid = _until("the update started", lambda: waiter and waiter[0])
        _until(
            "the update waits for the batch",
            lambda: scalar(
                db,
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted",
                (pid,),
            ),
        )
        if overrides.get("pause_on_lock_waits", True):
            _watcher_has_looked_after(db, pid)
    finally:
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
        runner.join(WAIT_S)
    blocked.join(WAIT_S)
    assert waiter[-1] == -1 and result, "the update and the backfill both finished"
    # the lock watch ends with the backfill: no connection is left behind
    _until(
        "the lock watch closed its connection",
        lambda: (
            not scalar(
                db,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'expandctl lock-wait watch'"
                " AND datname = current_database()",
            )
        ),
        timeout=5,
    )
    return reports


def test_a_session_waiting_on_a_batch_pauses_the_backfill(
    pg_database: PgDatabase, gated_users: psycopg.Connection[Any]
) -> None:
    reports = _gated_run(pg_database, gated_users)
    waits = reports.waiting("waited for locks held by the backfill's batch")
    assert waits, [p.throttled_reason for p in reports.seen]
    assert "pause_on_lock_waits" in str(waits[0].throttled_reason)
    # the pause came right after the batch that held row 101 (ids 101..200), before the next
    assert {p.rows_done for p in waits} == {200}
    assert wrong_rows(pg_database) == 0
    # history: the pause was recorded when it had lasted, and how long it lasted in all
    outcomes = [(o, "waited for locks" in detail) for o, _ms, detail in _waits(pg_database)]
    assert outcomes == [("waiting", True), ("resumed", True)]
    assert _waits(pg_database)[1][1] >= 1000


def test_negative_control_without_pause_on_lock_waits_it_does_not_wait(
    pg_database: PgDatabase, gated_users: psycopg.Connection[Any]
) -> None:
    reports = _gated_run(pg_database, gated_users, pause_on_lock_waits=False)
    assert reports.waiting("waited for locks") == []
    assert wrong_rows(pg_database) == 0


# -- health_check -----------------------------------------------------------------------


@pytest.fixture
def flagged_users(pg_database: PgDatabase) -> PgDatabase:
    make_users(pg_database, 500)
    _with_state_schema(pg_database)
    with pg_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE health_flag (ok boolean)")
        conn.execute("INSERT INTO health_flag VALUES (false)")
    return pg_database


def test_backfill_connections_waiting_on_each_other_are_no_reason_to_pause(
    pg_database: PgDatabase,
) -> None:
    """Parallel workers queue briefly on each other (the fencing row); only another
    session waiting on a batch is a reason to yield."""
    from expandctl.engine.backfill.health import LockWaitWatch

    make_users(pg_database, 10)
    watch = LockWaitWatch()
    with (
        pg_database.connect() as holder,
        pg_database.connect(autocommit=True) as worker,
        pg_database.connect(autocommit=True) as outsider,
    ):
        watch.watch(holder)
        watch.watch(worker)
        holder.execute("UPDATE users SET email = email WHERE id = 1")  # holds the row lock

        def blocked(conn: psycopg.Connection[Any]) -> threading.Thread:
            thread = threading.Thread(
                target=lambda: conn.execute("UPDATE users SET email = email WHERE id = 1")
            )
            thread.start()
            return thread

        def waiting(pid: int) -> bool:
            with pg_database.connect(autocommit=True) as look:
                row = look.execute(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                    (pid,),
                ).fetchone()
            return bool(row and row[0])

        def settle(pid: int) -> None:
            for _ in range(200):
                if waiting(pid):
                    break
                time.sleep(0.02)
            time.sleep(0.4)  # several samples of the watcher (every 0.1 s)

        threads = [blocked(worker)]
        try:
            settle(worker.info.backend_pid)
            assert watch.reason() is None  # one of ours waits on another of ours
            threads.append(blocked(outsider))
            settle(outsider.info.backend_pid)
            reason = watch.reason()
            assert reason is not None and f"pid {outsider.info.backend_pid}" in reason
        finally:
            holder.rollback()  # lets the waiters through, whatever was asserted
            for thread in threads:
                thread.join(10)
            watch.stop()


def test_health_check_false_holds_the_backfill_until_true(flagged_users: PgDatabase) -> None:
    db = flagged_users
    reports = Reports()

    def progress(p: BackfillProgress) -> None:
        reports(p)
        # after a few looks (over a second: long enough to be recorded), it turns healthy
        if len(reports.waiting("health_check is false")) == 4:
            with db.connect(autocommit=True) as conn:
                conn.execute("UPDATE health_flag SET ok = true")

    result = run(
        db, spec(batch_size=100, health_check="SELECT ok FROM health_flag"), progress=progress
    )
    waits = reports.waiting("health_check is false")
    assert (
        waits[0].throttled_reason == "waiting: health_check is false: (SELECT ok FROM health_flag)"
    )
    assert len(waits) == 4 and {p.rows_done for p in waits} == {100}  # nothing written meanwhile
    assert result.rows_updated == 500 and wrong_rows(db) == 0
    assert [o for o, _ms, _d in _waits(db)] == ["waiting", "resumed"]


def test_health_check_null_also_waits(flagged_users: PgDatabase) -> None:
    db = flagged_users
    seen: list[str] = []

    def progress(p: BackfillProgress) -> None:
        if p.throttled_reason:
            seen.append(p.throttled_reason)
            with db.connect(autocommit=True) as conn:
                conn.execute("UPDATE health_flag SET ok = true")

    run(
        db,
        spec(batch_size=250, health_check="(SELECT NULL::boolean) OR (SELECT ok FROM health_flag)"),
        progress=progress,
    )
    assert seen and seen[0].startswith("waiting: health_check is NULL: ")


def test_a_health_check_that_cannot_run_stops_the_backfill(flagged_users: PgDatabase) -> None:
    with pytest.raises(ManifestError, match=r'health_check .* cannot run: column "okay" does not'):
        run(flagged_users, spec(batch_size=100, health_check="SELECT okay FROM health_flag"))
    assert scalar(flagged_users, "SELECT count(*) FROM users WHERE email_norm IS NULL") == 400


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("SELECT true; DROP TABLE users", "not statements"),
        ("WITH d AS (DELETE FROM users RETURNING 1) SELECT true", "may not modify data"),
        # effects a rolled-back READ ONLY transaction does not undo
        ("pg_try_advisory_lock(1)", r"may not call pg_try_advisory_lock\(\)"),
        ("SELECT pg_terminate_backend(1) IS NULL", r"may not call pg_terminate_backend\(\)"),
        ("set_config('work_mem', '1GB', false) IS NOT NULL", r"may not call set_config\(\)"),
    ],
)
def test_a_health_check_that_is_not_one_read_only_query_is_refused(
    flagged_users: PgDatabase, check: str, message: str
) -> None:
    with pytest.raises((ManifestError, ValueError), match=message):
        run(flagged_users, spec(health_check=check))
    assert wrong_rows(flagged_users) == 500  # nothing ran


def test_a_health_check_that_always_times_out_stops_the_backfill(
    flagged_users: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout is a reason to wait, but not forever (3 in a row here, not 30)."""
    from expandctl.engine.backfill import health

    monkeypatch.setattr(health, "MAX_TRANSIENT", 3)
    with pytest.raises(ManifestError, match=r"failed 3 times in a row: .*statement timeout"):
        run(flagged_users, spec(batch_size=100, health_check="(SELECT pg_sleep(3)) IS NOT NULL"))
    assert wrong_rows(flagged_users) == 400  # the first batch, then it never became true


def test_the_health_check_runs_read_only(flagged_users: PgDatabase) -> None:
    with flagged_users.connect(autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION sneaky() RETURNS boolean LANGUAGE sql AS"
            " $$ INSERT INTO health_flag VALUES (true) RETURNING true $$"
        )
    with pytest.raises(ManifestError, match="read-only transaction"):
        run(flagged_users, spec(batch_size=100, health_check="sneaky()"))
    assert scalar(flagged_users, "SELECT count(*) FROM health_flag") == 1


# -- VACUUM -----------------------------------------------------------------------------


@pytest.fixture
def slow_vacuum(pg_database: PgDatabase) -> Iterator[int]:
    """A manual VACUUM of users from another session, slowed down to last; its pid."""
    make_users(pg_database, 20_000)
    errors: list[BaseException] = []
    pids: list[int] = []

    def vacuum() -> None:
        with pg_database.connect(autocommit=True) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            pids.append(int(row[0]))
            conn.execute("SET vacuum_cost_delay = 100")
            conn.execute("SET vacuum_cost_limit = 1")
            try:
                conn.execute("VACUUM (DISABLE_PAGE_SKIPPING) users")
            except psycopg.errors.QueryCanceled:
                pass  # the test cancels it once the backfill has waited
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=vacuum)
    thread.start()
    try:
        pid = _until("the vacuum started", lambda: pids and pids[0])
        _until(
            "the vacuum shows progress",
            lambda: scalar(
                pg_database,
                "SELECT count(*) FROM pg_stat_progress_vacuum WHERE pid = %s",
                (pid,),
            ),
        )
        yield pid
    finally:
        with pg_database.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_cancel_backend(%s)", (pids[0],))
        thread.join(WAIT_S)
    assert not errors


def test_a_vacuum_on_the_table_holds_the_backfill(
    pg_database: PgDatabase, slow_vacuum: int
) -> None:
    reports = Reports()

    def progress(p: BackfillProgress) -> None:
        reports(p)
        if len(reports.waiting("VACUUM")) == 3:
            with pg_database.connect(autocommit=True) as conn:
                conn.execute("SELECT pg_cancel_backend(%s)", (slow_vacuum,))

    result = run(pg_database, spec(batch_size=5000), progress=progress)
    waits = reports.waiting("VACUUM")
    assert str(waits[0].throttled_reason).startswith(
        f"waiting: VACUUM (pid {slow_vacuum}) on users, "
    )
    assert str(waits[0].throttled_reason).endswith("(pause_on_vacuum)")
    assert len(waits) >= 3 and {p.rows_done for p in waits} == {5000}
    assert result.rows_updated == 20_000


def test_negative_control_without_pause_on_vacuum_it_goes_on(
    pg_database: PgDatabase, slow_vacuum: int
) -> None:
    reports = Reports()
    result = run(pg_database, spec(batch_size=5000, pause_on_vacuum=False), progress=reports)
    assert reports.waiting("VACUUM") == []
    assert result.rows_updated == 20_000
    assert (
        scalar(
            pg_database,
            "SELECT count(*) FROM pg_stat_progress_vacuum WHERE pid = %s",
            (slow_vacuum,),
        )
        == 1
    )  # it was still running all along
