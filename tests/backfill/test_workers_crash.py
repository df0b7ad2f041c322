"""Parallel workers under kill -9 and under fencing, through a real ``expandctl advance``.

A per-row counter (a trigger adds 1 to ``touches`` on every update) shows
each row was updated exactly once across the killed run and the resume.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandctl.engine.backfill import backfill_status
from tests.conftest import PgDatabase
from tests.engine.conftest import Project
from tests.engine.test_fencing import (
    _error_lines,
    _finish,
    _terminate_lock_connection,
    _wait_for_new_owner_waiting,
)
from tests.engine.test_resilience import _start, _wait_for

pytestmark = [pytest.mark.db, pytest.mark.slow]

MIGRATION = "0001_email_norm"
SETTINGS = {"lock_timeout": "2min", "advisory_lock_wait": "2min"}


@pytest.fixture
def project(tmp_path: Path, pg_database: PgDatabase) -> Project:
    (tmp_path / "migrations").mkdir()
    return Project(root=tmp_path, db=pg_database, overrides={})


def _setup(project: Project, rows: int, *, batch_size: int, pause_ms: int) -> None:
    project.query(
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, touches int NOT NULL"
        " DEFAULT 0)"
    )
    project.query(
        "INSERT INTO users (id, email) SELECT g, 'A' || g || '@B.C' FROM generate_series(1, %s) g",
        (rows,),
    )
    project.query("ANALYZE users")
    # Which backend updated each row, and when: runs must never interleave.
    project.query("CREATE TABLE touch_log (pid int, at timestamptz DEFAULT clock_timestamp())")
    project.query(
        "CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN NEW.touches := OLD.touches + 1;"
        " INSERT INTO touch_log (pid) VALUES (pg_backend_pid()); RETURN NEW; END$$"
    )
    project.query(
        "CREATE TRIGGER count_touch BEFORE UPDATE ON users"
        " FOR EACH ROW EXECUTE FUNCTION count_touch()"
    )
    project.add(
        MIGRATION,
        manifest=f"""
[backfill]
table = "users"
set = {{ email_norm = "lower(email)" }}
where = "email_norm IS DISTINCT FROM lower(email)"
workers = 4
# the sessions these tests hold open would make the workers take turns
workers_when_busy = 4
batch_size = {batch_size}
pause_ms = {pause_ms}
""",
        expand="ALTER TABLE users ADD COLUMN email_norm text;\n",
    )
    expanded = project.cli("advance", MIGRATION)
    assert expanded.exit_code == 0, expanded.output


def _checkpoint(conn: psycopg.Connection[Any]) -> Any:
    try:
        found = backfill_status(conn, schema="expandctl", migration_id=MIGRATION)
    except psycopg.errors.UndefinedTable:
        return None
    return found[0] if found else None


def _busy_ranges(conn: psycopg.Connection[Any]) -> int:
    """Ranges with at least one committed batch (0 before the state tables exist)."""
    try:
        row = conn.execute(
            "SELECT count(*) FROM expandctl.backfill_ranges WHERE rows_done > 0"
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def _wrong(project: Project) -> int:
    return int(
        project.one("SELECT count(*) FROM users WHERE email_norm IS DISTINCT FROM lower(email)")
    )


def test_kill_9_of_advance_mid_parallel_backfill_then_resume_updates_every_row_once(
    project: Project,
) -> None:
    rows = 24_000
    _setup(project, rows, batch_size=200, pause_ms=15)
    first = _start(project, project.db.url, "advance", MIGRATION, config=SETTINGS)
    try:
        deadline = time.monotonic() + 120
        with psycopg.connect(project.db.dsn, autocommit=True) as watcher:
            while _busy_ranges(watcher) < 4 or _checkpoint(watcher).rows_done < 4_000:
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the backfill made no progress"
                time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL

    with psycopg.connect(project.db.dsn, autocommit=True) as conn:
        killed = _checkpoint(conn)
        ranges = conn.execute(
            "SELECT count(*) FILTER (WHERE rows_done > 0), count(*) FROM expandctl.backfill_ranges"
        ).fetchone()
    assert ranges is not None and ranges[0] >= 4 and ranges[1] == 21  # 4 workers: 21 ranges
    assert not killed.finished and 4_000 <= killed.rows_done < rows
    # every range's checkpoint counts exactly its committed batches: the uncommitted ones
    # of the killed run were rolled back with their checkpoints
    assert _wrong(project) == rows - killed.rows_done

    resumed = project.cli("advance", MIGRATION)
    assert resumed.exit_code == 0, resumed.output

    assert _wrong(project) == 0
    assert project.one("SELECT count(*) FROM users WHERE touches <> 1") == 0
    assert project.state(MIGRATION) == "backfill"
    with psycopg.connect(project.db.dsn) as conn:
        done = _checkpoint(conn)
    assert done.finished and done.remaining == 0 and done.rows_done == rows


def test_a_parallel_run_that_lost_its_lease_commits_no_further_batch(project: Project) -> None:
    rows = 8_000
    _setup(project, rows, batch_size=50, pause_ms=10)
    with (
        psycopg.connect(project.db.dsn, autocommit=True) as watcher,
        psycopg.connect(project.db.dsn) as gate,
    ):
        # A row early in the third range holds one worker inside a batch's transaction.
        gate.execute("SELECT * FROM users WHERE id = 4100 FOR UPDATE")
        first = _start(project, project.db.url, "advance", MIGRATION, config=SETTINGS)
        _wait_for(
            watcher,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'expandctl'"
            " AND datname = current_database() AND wait_event_type = 'Lock'",
        )
        first_pids = [
            row[0]
            for row in watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'expandctl'"
                " AND datname = current_database()"
            ).fetchall()
        ]
        killed = _terminate_lock_connection(watcher)
        second = _start(project, project.db.url, "advance", MIGRATION, config=SETTINGS)
        _wait_for_new_owner_waiting(watcher, killed)
        gate.rollback()
        code1, _, err1 = _finish(first)
        code2, out2, err2 = _finish(second)
        checkpoint = _checkpoint(watcher)

    # Every row updated exactly once, and the checkpoints count exactly those rows.
    assert project.one("SELECT count(*) FROM users WHERE touches <> 1") == 0, (err1, err2)
    assert _wrong(project) == 0
    assert checkpoint.finished and checkpoint.remaining == 0
    assert checkpoint.rows_done == rows and checkpoint.workers == 4
    # Nothing the first run wrote is later than anything the second run wrote.
    first_last, second_first = project.query(
        "SELECT max(at) FILTER (WHERE pid = ANY(%s)), min(at) FILTER (WHERE pid <> ALL(%s))"
        " FROM touch_log",
        (first_pids, first_pids),
    )[0]
    assert second_first is not None and first_last < second_first
    assert code2 == 0 and "backfill done" in out2, err2
    assert code1 != 0, err1
    [line1] = _error_lines(err1)
    # Whichever notices first stops the run: the fencing token (the new owner took the
    # lease) or the lane watch (its connection is gone; after ~2 s on a slow machine).
    assert re.search(r"range \d+ of 21 ", line1), err1
    assert (
        "lost ownership of 0001_email_norm to" in line1
        or "lost the connection holding its lane" in line1
    ), err1
    assert "WARNING" not in err1, err1
