"""Parallel workers yield to other sessions: fewer batches at once while the server is busy."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

import psycopg
import pydantic
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from expandctl.engine.backfill import run_backfill
from expandctl.engine.backfill.busy import OTHERS_WORKING_SQL
from expandctl.errors import DatabaseError
from expandctl.model.config import Settings
from tests.backfill.helpers import (
    MIGRATION,
    SCHEMA,
    make_users,
    run,
    scalar,
    spec,
    tempt_parallel_scans,
    wrong_rows,
)
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db


def _log_batches(db: PgDatabase) -> None:
    """Each backfill UPDATE leaves its start and end, and lasts at least 20 ms."""
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE batch_edges (pid int, at timestamptz, edge text, sync_commit text)"
        )
        conn.execute(
            "CREATE FUNCTION batch_edge() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
            " INSERT INTO batch_edges VALUES (pg_backend_pid(), clock_timestamp(), TG_WHEN,"
            " current_setting('synchronous_commit'));"
            " IF TG_WHEN = 'BEFORE' THEN PERFORM pg_sleep(0.02); END IF;"
            " RETURN NULL; END$$"
        )
        for when in ("BEFORE", "AFTER"):
            conn.execute(
                f"CREATE TRIGGER batch_{when.lower()} {when} UPDATE ON users"
                " FOR EACH STATEMENT EXECUTE FUNCTION batch_edge()"
            )


def _most_at_once(
    db: PgDatabase, *, since: datetime | None = None, until: datetime | None = None
) -> int:
    """The largest number of backfill UPDATEs running at the same moment (among the
    statements that started in ``[since, until)``, when given)."""
    with db.connect() as conn:
        rows = conn.execute(
            "WITH s AS (SELECT pid, at, edge, sum((edge = 'BEFORE')::int)"
            "  OVER (PARTITION BY pid ORDER BY at) AS n FROM batch_edges),"
            " started AS (SELECT pid, n, min(at) AS at FROM s GROUP BY pid, n)"
            " SELECT s.at, s.edge FROM s JOIN started USING (pid, n)"
            " WHERE started.at >= coalesce(%s::timestamptz, '-infinity')"
            " AND started.at < coalesce(%s::timestamptz,"
            " 'infinity') ORDER BY s.at, s.edge DESC",
            (since, until),
        ).fetchall()
    running = most = 0
    for _, edge in rows:  # at a tie, AFTER sorts first: an end before the next start
        running += 1 if edge == "BEFORE" else -1
        most = max(most, running)
    return most


def _batches_by_worker(db: PgDatabase) -> int:
    return int(scalar(db, "SELECT count(DISTINCT pid) FROM batch_edges"))


@contextmanager
def _another_session_working(db: PgDatabase) -> Iterator[None]:
    """An application session that is always in the middle of a query."""
    stop = threading.Event()
    started = threading.Event()

    def work() -> None:
        with db.connect(autocommit=True) as conn:
            started.set()
            while not stop.is_set():
                conn.execute("SELECT pg_sleep(0.05)")

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def _skip_unless_quiet(db: PgDatabase) -> None:
    """A shared test server (another test run) is not quiet: nothing to check there."""
    with db.connect(autocommit=True) as conn:
        for _ in range(10):
            row = conn.execute(OTHERS_WORKING_SQL, {"ours": []}).fetchone()
            if row is None or any(row):
                pytest.skip("other sessions are working on this test server")
            time.sleep(0.05)


def test_two_workers_run_side_by_side_on_a_quiet_server(
    pg_database: PgDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    # The control for the tests below: the edges do show two batches at once.
    make_users(pg_database, 12_000)
    _log_batches(pg_database)
    _skip_unless_quiet(pg_database)

    with caplog.at_level(logging.INFO):
        result = run(pg_database, spec(workers=2, batch_size=200))

    # the first looks (as if busy) are no switch worth a line
    assert "other sessions are working" not in caplog.text
    assert "quiet again" not in caplog.text

    assert wrong_rows(pg_database) == 0 and result.remaining == 0
    assert _batches_by_worker(pg_database) == 2
    assert _most_at_once(pg_database) == 2
    # nobody else commits: once the watch's first looks (~0.1 s, meanwhile as if
    # busy) have decided, the batches do not wait for their WAL to reach disk
    assert _commit_modes(pg_database, after_s=0.3) == {"off"}


def _commit_modes(db: PgDatabase, after_s: float = 0.0) -> set[str]:
    """synchronous_commit in the batches that started ``after_s`` after the first."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT DISTINCT sync_commit FROM batch_edges WHERE at >="
            " (SELECT min(at) FROM batch_edges) + make_interval(secs => %s)",
            (after_s,),
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_while_another_session_works_one_batch_runs_at_a_time(pg_database: PgDatabase) -> None:
    make_users(pg_database, 4_000)
    _log_batches(pg_database)

    with _another_session_working(pg_database):
        result = run(pg_database, spec(workers=2, batch_size=200))

    assert wrong_rows(pg_database) == 0 and result.remaining == 0
    assert result.rows_updated == 4_000 and result.workers == 2
    assert _batches_by_worker(pg_database) == 2  # both ranges were filled, one at a time
    assert _most_at_once(pg_database) == 1
    # our flushes would land in the other session's commits: the session's own setting
    assert _commit_modes(pg_database) == {"on"}


def test_under_load_the_batches_keep_the_sessions_synchronous_commit(
    pg_database: PgDatabase,
) -> None:
    make_users(pg_database, 2_000)
    _log_batches(pg_database)
    with _another_session_working(pg_database):
        run_backfill(
            lambda: psycopg.connect(pg_database.dsn, options="-c synchronous_commit=local"),
            schema=SCHEMA,
            migration_id=MIGRATION,
            index=0,
            spec=spec(workers=2, batch_size=200),
            settings=Settings(),
        )
    assert wrong_rows(pg_database) == 0
    assert _commit_modes(pg_database) == {"local"}


def test_workers_when_busy_lets_more_run_under_load(pg_database: PgDatabase) -> None:
    make_users(pg_database, 4_000)
    _log_batches(pg_database)

    with _another_session_working(pg_database):
        result = run(pg_database, spec(workers=2, batch_size=200, workers_when_busy=2))

    assert wrong_rows(pg_database) == 0 and result.remaining == 0
    assert _most_at_once(pg_database) == 2


def test_the_edges_are_read_in_time_order(pg_database: PgDatabase) -> None:
    # _most_at_once relies on clock_timestamp() ordering one session's edges.
    make_users(pg_database, 1_000)
    _log_batches(pg_database)
    run(pg_database, spec(batch_size=250))
    with pg_database.connect() as conn:
        rows = conn.execute("SELECT at, edge FROM batch_edges ORDER BY at").fetchall()
    assert [edge for _, edge in rows] == ["BEFORE", "AFTER"] * 4
    assert _commit_modes(pg_database) == {"on"}  # one worker: no watch, no change
    times = [cast(datetime, at) for at, _ in rows]
    assert times == sorted(times)


@pytest.mark.parametrize("value", [0, 17, "auto"])
def test_workers_when_busy_is_a_small_positive_number(value: object) -> None:
    with pytest.raises(pydantic.ValidationError, match="workers_when_busy"):
        spec(workers=2, workers_when_busy=value)


def _count_helpers(db: PgDatabase, *, busy: bool) -> set[str]:
    """Backends that evaluated ``where`` without being one of the run's connections:
    the parallel helpers of the final count (the planner is made to love them)."""
    make_users(db, 20_000)
    tempt_parallel_scans(db)
    seen: set[str] = set()
    ours: list[str] = []  # the control connection first

    def connect() -> psycopg.Connection[Any]:
        conn = psycopg.connect(db.dsn)
        ours.append(f"pid {conn.info.backend_pid}")
        conn.add_notice_handler(lambda diag: seen.add(diag.message_primary or ""))
        return conn

    # cheapest first: the planner asks seen_by() even of rows already filled
    backfill = spec(workers=2, where="seen_by() AND email_norm IS DISTINCT FROM lower(email)")
    with contextlib.ExitStack() as stack:
        if busy:
            stack.enter_context(_another_session_working(db))
        result = run_backfill(
            connect,
            schema=SCHEMA,
            migration_id=MIGRATION,
            index=0,
            spec=backfill,
            settings=Settings(),
        )
    assert result.workers == 2 and result.remaining == 0 and wrong_rows(db) == 0
    assert ours[0] in seen  # the count ran on the control connection and did report
    return seen - set(ours)


def test_after_a_quiet_parallel_pass_the_count_may_use_the_workers_cores(
    pg_database: PgDatabase,
) -> None:
    _skip_unless_quiet(pg_database)
    assert _count_helpers(pg_database, busy=False)


def test_after_a_busy_parallel_pass_the_count_stays_on_one_core(pg_database: PgDatabase) -> None:
    assert _count_helpers(pg_database, busy=True) == set()


def test_a_failing_range_stops_the_workers_waiting_for_their_turn(
    pg_database: PgDatabase,
) -> None:
    make_users(pg_database, 8_000)
    poisoned = spec(
        workers=4,
        batch_size=200,
        set={
            "email_norm": "CASE WHEN id = 7000 THEN (1 / (id - 7000))::text ELSE lower(email) END"
        },
    )
    with _another_session_working(pg_database), pytest.raises(DatabaseError) as failed:
        run(pg_database, poisoned)

    message = str(failed.value)
    assert " of 21 ((id) > (" in message and "division by zero" in message
    with pg_database.connect() as conn:
        done = conn.execute("SELECT sum(rows_done) FROM expandctl.backfill_ranges").fetchone()
    assert done is not None
    # what the checkpoints count is exactly what was written: a worker that was waiting
    # for its slot when the others stopped wrote nothing more
    assert 8_000 - wrong_rows(pg_database) == done[0]
    # and the next run (quiet, and without the poison) finishes every range
    assert run(pg_database, spec(workers=4, batch_size=200)).remaining == 0
    assert wrong_rows(pg_database) == 0


@pytest.fixture
def unprivileged_role(pg_database: PgDatabase) -> Iterator[str]:
    """A migration role without pg_read_all_stats that owns the table: others' sessions
    are hidden from it."""
    role = f"bf_{secrets.token_hex(4)}"
    with pg_database.connect(autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f'GRANT CREATE ON DATABASE "{pg_database.name}" TO {role}')
        admin.execute(f"ALTER TABLE users OWNER TO {role}")
        admin.execute(f"GRANT ALL ON batch_edges TO {role}")
    try:
        yield make_conninfo(pg_database.dsn, user=role)
    finally:
        with pg_database.connect(autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.fixture
def users_with_edges(pg_database: PgDatabase) -> None:
    make_users(pg_database, 4_000)
    _log_batches(pg_database)


def test_sessions_hidden_from_the_role_count_as_working(
    pg_database: PgDatabase,
    users_with_edges: None,
    unprivileged_role: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING), _another_session_working(pg_database):
        result = run_backfill(
            lambda: psycopg.connect(unprivileged_role),
            schema=SCHEMA,
            migration_id=MIGRATION,
            index=0,
            spec=spec(workers=2, batch_size=200),
            settings=Settings(),
        )

    assert result.remaining == 0 and wrong_rows(pg_database) == 0
    assert _most_at_once(pg_database) == 1
    assert "hidden from this role" in caplog.text and "pg_read_all_stats" in caplog.text


def test_workers_start_taking_turns_when_another_session_starts_working(
    pg_database: PgDatabase,
) -> None:
    make_users(pg_database, 30_000)
    _log_batches(pg_database)
    _skip_unless_quiet(pg_database)
    results: list[object] = []
    backfill = threading.Thread(
        target=lambda: results.append(run(pg_database, spec(workers=2, batch_size=200))),
        daemon=True,
    )
    backfill.start()
    with pg_database.connect(autocommit=True) as conn:
        # both workers under way; polled on one connection, idle between looks
        edges = "SELECT count(*) >= 20 AND count(DISTINCT pid) >= 2 FROM batch_edges"
        while not (conn.execute(edges).fetchone() or (False,))[0]:
            time.sleep(0.05)
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        began: datetime = row[0]
    with _another_session_working(pg_database):
        backfill.join(120)
    assert results and wrong_rows(pg_database) == 0
    # Two at once before the other session started; one at a time from a second on
    # (the watch needs a few samples of 100 ms to see it).
    assert _most_at_once(pg_database, until=began) == 2
    assert _most_at_once(pg_database, since=began + timedelta(seconds=1)) == 1
    later = "SELECT count(*) FROM batch_edges WHERE at > %s"
    assert scalar(pg_database, later, (began + timedelta(seconds=1),)) > 20


def test_without_a_watch_the_workers_take_turns(
    pg_database: PgDatabase,
    users_with_edges: None,
    unprivileged_role: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The run's own two connections use up the role's connection limit, so the watch
    # (a third connection as the same role) cannot start; the workers connect as
    # another role and run.
    role = str(conninfo_to_dict(unprivileged_role)["user"])
    with pg_database.connect(autocommit=True) as admin:
        admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT 2")
    calls: list[int] = []

    def connect() -> psycopg.Connection[Any]:
        calls.append(1)
        return psycopg.connect(unprivileged_role if len(calls) <= 2 else pg_database.dsn)

    with caplog.at_level(logging.WARNING):
        result = run_backfill(
            connect,
            schema=SCHEMA,
            migration_id=MIGRATION,
            index=0,
            spec=spec(workers=2, batch_size=200, pause_on_lock_waits=False),
            settings=Settings(),
        )

    assert result.remaining == 0 and wrong_rows(pg_database) == 0
    assert "cannot watch for other sessions" in caplog.text
    assert _most_at_once(pg_database) == 1
    assert _commit_modes(pg_database) == {"on"}


def test_sessions_still_connecting_are_neither_working_nor_hidden(
    pg_database: PgDatabase,
) -> None:
    # A backend between its fork and its first query reads state NULL with an empty
    # query, like a session hidden from the role; counted as hidden, every new
    # connection (the workers' own among them) raised a false "grant
    # pg_read_all_stats" warning and pushed the pass towards taking turns.
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            with psycopg.connect(pg_database.dsn):
                pass  # connects and leaves: never runs a query

    churner = threading.Thread(target=churn, daemon=True)
    starting = hidden = 0
    with pg_database.connect(autocommit=True) as watch:
        churner.start()
        try:
            for _ in range(1_500):
                row = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE state IS NULL AND query = '' AND datid IS NOT NULL"
                ).fetchone()
                assert row is not None
                starting += row[0]
                counted = watch.execute(OTHERS_WORKING_SQL, {"ours": []}).fetchone()
                assert counted is not None
                hidden += counted[1]
                assert counted[0] == 0  # the connections never ran a query
        finally:
            stop.set()
            churner.join()
    assert starting > 0  # the control: connecting sessions were there to be seen
    assert hidden == 0


def _batch_sizes(db: PgDatabase, busy: bool) -> list[int]:
    """The batch sizes of a 2-worker pass aimed at 5 ms, or 200 ms while quiet."""
    ticks: list[Any] = []
    backfill = spec(workers=2, target_batch_ms=5, quiet_batch_ms=200)
    with _another_session_working(db) if busy else contextlib.nullcontext():
        result = run(db, backfill, progress=ticks.append)
    assert result.remaining == 0 and wrong_rows(db) == 0
    return [tick.batch_size for tick in ticks]


def test_quiet_batches_grow_to_quiet_batch_ms(pg_database: PgDatabase) -> None:
    from expandctl.engine.backfill import reset_backfill

    make_users(pg_database, 30_000)
    _log_batches(pg_database)  # every batch sleeps 20 ms: far over 5 ms, well under 200
    _skip_unless_quiet(pg_database)
    quiet = _batch_sizes(pg_database, busy=False)
    assert max(quiet) >= 4_000  # grew from the first guess of 1,000 towards 200 ms

    with pg_database.connect(autocommit=True) as conn:
        reset_backfill(conn, schema=SCHEMA, migration_id=MIGRATION)
        conn.execute("DELETE FROM users WHERE id > 6000")  # enough batches to shrink, still short
        conn.execute("UPDATE users SET email_norm = NULL")
    busy = _batch_sizes(pg_database, busy=True)
    assert max(busy) <= 1_000 and min(busy) < 250  # shrank towards 5 ms from the first guess


def test_more_busy_workers_than_workers_is_refused_unless_the_count_is_auto() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"workers_when_busy \(3\) is more than"):
        spec(workers=2, workers_when_busy=3)
    assert spec(workers="auto", workers_when_busy=3).workers_when_busy == 3  # capped at run time
    assert spec(workers=3, workers_when_busy=3).workers_when_busy == 3
