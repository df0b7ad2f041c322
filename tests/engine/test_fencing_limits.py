"""The backfill never waits without a limit, and its own sessions are immune to idle timeouts."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.engine.conftest import Project
from tests.engine.test_fencing import _rows_done
from tests.engine.test_resilience import _start, _wait_for

pytestmark = [pytest.mark.db, pytest.mark.slow]

MANIFEST = """
[backfill]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 100
pause_ms = {pause}
"""


def _expanded(project: Project, rows: int, pause_ms: int = 0) -> None:
    project.query("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
    project.query(
        "INSERT INTO users SELECT g, 'A' || g || '@B.C' FROM generate_series(1, %s) g", (rows,)
    )
    project.add(
        "0001_email_norm",
        manifest=MANIFEST.replace("{pause}", str(pause_ms)),
        expand="ALTER TABLE users ADD COLUMN email_norm text;\n",
    )
    result = project.cli("advance", "0001_email_norm")
    assert result.exit_code == 0, result.output


def test_a_backfill_behind_a_table_lock_fails_within_its_limits_and_names_the_blocker(
    project: Project,
) -> None:
    _expanded(project, 500)
    settings = {"lock_timeout": "300ms", "lock_retries": 1, "statement_timeout": "5s"}
    with psycopg.connect(project.db.dsn, application_name="nightly-report") as blocker:
        blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        pid = blocker.info.backend_pid
        started = time.monotonic()
        proc = _start(project, project.db.url, "advance", "0001_email_norm", config=settings)
        _, err = proc.communicate(timeout=60)  # it hung here, for ever, before
        elapsed = time.monotonic() - started
    assert proc.returncode == 3, err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "still waiting for a lock after 1 retries" in line
    assert f"pid {pid} (idle in transaction, application 'nightly-report')" in line
    assert "LOCK TABLE users IN ACCESS EXCLUSIVE MODE" in line
    assert elapsed < 30
    assert project.one("SELECT count(*) FROM users WHERE email_norm IS NOT NULL") == 0


def test_idle_session_timeout_shorter_than_the_backfill_does_not_kill_our_sessions(
    project: Project,
) -> None:
    _expanded(project, 3000, pause_ms=40)  # 30 batches: well over a second
    project.query(f'ALTER DATABASE "{project.db.name}" SET idle_session_timeout = "300ms"')
    proc = _start(project, project.db.url, "advance", "0001_email_norm")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "backfill done" in out
    assert project.state("0001_email_norm") == "backfill"


def test_a_killed_backfill_connection_gives_one_line_and_no_library_warnings(
    project: Project,
) -> None:
    _expanded(project, 3000)
    with (
        psycopg.connect(project.db.dsn, autocommit=True) as watcher,
        psycopg.connect(project.db.dsn) as gate,
    ):
        gate.execute("SELECT * FROM users WHERE id = 1500 FOR UPDATE")
        proc = _start(project, project.db.url, "advance", "0001_email_norm")
        _wait_for(
            watcher,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'expandctl'"
            " AND datname = current_database() AND wait_event_type = 'Lock'",
        )
        watcher.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'expandctl' AND datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    problems = [
        line
        for line in err.splitlines()
        if not line.startswith(("running", "[", "backfill 0001_email_norm[0] public.users:"))
    ]
    assert len(problems) == 1, err
    assert "backfill 0001_email_norm[0] lost its database connection" in problems[0]
    assert "WARNING" not in err


def test_a_table_lock_taken_mid_backfill_fails_the_batch_within_its_limits_naming_it(
    project: Project,
) -> None:
    _expanded(project, 3000, pause_ms=100)
    settings = {"lock_timeout": "300ms", "lock_retries": 1}
    with (
        psycopg.connect(project.db.dsn, autocommit=True) as watcher,
        psycopg.connect(project.db.dsn, application_name="maintenance") as locker,
    ):
        proc = _start(project, project.db.url, "advance", "0001_email_norm", config=settings)
        deadline = time.monotonic() + 120
        while _rows_done(watcher) < 300:
            assert proc.poll() is None and time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        _, err = proc.communicate(timeout=60)
        pid = locker.info.backend_pid
    assert proc.returncode == 3, err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "backfill batch of users failed 2 times in a row: 55P03" in line
    assert f"blocked by pid {pid} (idle in transaction, application 'maintenance')" in line


def test_a_lock_on_the_state_table_makes_advance_fail_within_lock_timeout(
    project: Project,
) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);\n")
    assert project.cli("advance", "0001_t").exit_code == 0
    project.add("0002_u", expand="CREATE TABLE u (id int);\n")
    with psycopg.connect(project.db.dsn) as admin:
        admin.execute("LOCK TABLE expandctl.migrations IN ACCESS EXCLUSIVE MODE")
        proc = _start(project, project.db.url, "advance", config={"lock_timeout": "300ms"})
        _, err = proc.communicate(timeout=60)  # it waited for ever before
    assert proc.returncode == 3, err
    [line] = err.splitlines()
    assert "lock timeout" in line and "state tables" in line
    assert project.one("SELECT to_regclass('u')") is None
