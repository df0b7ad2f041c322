"""Crashes, concurrency and lock contention, with real processes and real locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandctl.commands.advance import advance
from expandctl.engine.runner import HOOKS_ARMED_ENV
from expandctl.errors import DatabaseError
from tests.conftest import PROJECT_ROOT
from tests.engine.conftest import Project
from tests.pg_provider import Server, fresh_database

pytestmark = [pytest.mark.db, pytest.mark.slow]

# Four groups: [1 2] in one transaction, 3 autocommit, 4 transaction, 5 autocommit.
CRASH_EXPAND = """\
CREATE TABLE items (id int PRIMARY KEY, v text);
INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 500) g;
CREATE INDEX CONCURRENTLY items_v_idx ON items (v);
ALTER TABLE items ADD COLUMN w int;
CREATE UNIQUE INDEX CONCURRENTLY items_id_w_idx ON items (id, w);
"""
PAUSE_MARK = "expandctl test pause"


def _start(
    project: Project, url: str, *args: str, config: dict[str, str] | None = None, **env: str
) -> subprocess.Popen[str]:
    project.write_config(**(config or {}))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "expandctl",
            "--config",
            str(project.root / "expandctl.toml"),
            "--database-url",
            url,
            *args,
        ],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_pause(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if PAUSE_MARK in line:
            return seen
    proc.wait()
    raise AssertionError(f"process ended (exit {proc.returncode}) before pausing: {''.join(seen)}")


def _run(project: Project, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = _start(project, url, *args)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _snapshot(dsn: str) -> dict[str, Any]:
    """The schema and the recorded state, without timestamps or who."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' ORDER BY 1"
        ).fetchall()
        rows = conn.execute("SELECT count(*) FROM items").fetchone()
        state = conn.execute(
            "SELECT id, state, in_progress, phases -> 'expand' ->> 'checksum' "
            "FROM expandctl.migrations ORDER BY id"
        ).fetchall()
    return {"columns": columns, "indexes": indexes, "rows": rows, "state": state}


@pytest.fixture
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, pg_server: Server) -> Any:
    """What an uninterrupted run leaves behind, computed once per test in its own database."""

    def compute(project: Project) -> dict[str, Any]:
        with fresh_database(pg_server) as name:
            result = _run(project, pg_server.url_for(name), "advance", "0001_items")
            assert result.returncode == 0, result.stderr
            return _snapshot(pg_server.dsn_for(name))

    return compute


@pytest.mark.parametrize(
    ("variable", "step"),
    [
        ("EXPANDCTL_TEST_PAUSE_AFTER_STEP", 0),  # marked started, nothing run
        ("EXPANDCTL_TEST_PAUSE_AFTER_STEP", 2),  # first transaction committed
        ("EXPANDCTL_TEST_PAUSE_BEFORE_RECORD", 3),  # index built, not yet recorded
        ("EXPANDCTL_TEST_PAUSE_AFTER_STEP", 3),
        ("EXPANDCTL_TEST_PAUSE_AFTER_STEP", 4),
        ("EXPANDCTL_TEST_PAUSE_BEFORE_RECORD", 5),  # last step ran, phase not recorded done
        ("EXPANDCTL_TEST_PAUSE_AFTER_STEP", 5),  # phase recorded done
    ],
)
def test_kill_9_at_a_step_boundary_then_rerun_equals_an_uninterrupted_run(
    project: Project, uninterrupted: Any, variable: str, step: int
) -> None:
    project.add("0001_items", expand=CRASH_EXPAND)
    expected = uninterrupted(project)
    armed = {variable: str(step), HOOKS_ARMED_ENV: "1"}
    proc = _start(project, project.db.url, "advance", "0001_items", **armed)
    try:
        _wait_for_pause(proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    result = _run(project, project.db.url, "advance", "0001_items")
    if step == 5 and variable == "EXPANDCTL_TEST_PAUSE_AFTER_STEP":
        # The killed run had finished the phase: the re-run runs the next one (no SQL).
        assert result.returncode == 0 and "backfill done" in result.stdout, result.stderr
        project.query("UPDATE expandctl.migrations SET state = 'expand'")
        project.query("UPDATE expandctl.migrations SET phases = phases - 'backfill'")
    else:
        assert result.returncode == 0, result.stderr
        assert "expand done" in result.stdout
    assert _snapshot(project.db.dsn) == expected


def test_two_concurrent_advances_apply_the_phase_exactly_once(project: Project) -> None:
    # The first run blocks mid-phase on an advisory lock this test holds, so it
    # keeps the expandctl lock for exactly as long as the test needs: no sleeps.
    project.add(
        "0001_items",
        expand="CREATE TABLE items (id int);\nCREATE INDEX CONCURRENTLY items_i ON items (id);\n"
        "SELECT pg_advisory_xact_lock(4242);\nCREATE TABLE more_items (id int);\n",
    )
    settings = {"lock_timeout": "2min", "advisory_lock_wait": "2min"}
    with psycopg.connect(project.db.dsn, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(4242)")
        first = _start(project, project.db.url, "advance", "0001_items", config=settings)
        _wait_for(
            gate,
            "SELECT count(*) FROM pg_locks WHERE objid = 4242 AND NOT granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        first_pids = _expandctl_pids(gate)
        second = _start(project, project.db.url, "advance", "0001_items", config=settings)
        # The second has read the state and now polls for the expandctl lock.
        _wait_for(
            gate,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'expandctl' "
            "AND datname = current_database() AND NOT pid = ANY(%s) "
            "AND query LIKE 'SELECT pg_try_advisory_lock%%'",
            (first_pids,),
        )
        gate.execute("SELECT pg_advisory_unlock(4242)")
        out1, err1 = first.communicate(timeout=120)
        _, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert "0001_items: expand done" in out1
    assert second.returncode == 4, err2
    assert "another expandctl changed 0001_items while this one waited" in err2
    done = project.query(
        "SELECT count(*) FROM expandctl.events WHERE action = 'phase' AND outcome = 'ok'"
    )
    assert done == [(1,)]
    assert project.state("0001_items") == "expand"


def _wait_for(conn: psycopg.Connection[Any], count_query: str, params: Any = ()) -> None:
    """Poll until the count is positive (at most two minutes, however loaded the machine)."""
    for _ in range(1200):
        row = conn.execute(count_query, params).fetchone()
        if row and row[0]:
            return
        conn.execute("SELECT pg_sleep(0.1)")
    raise AssertionError(f"never true: {count_query}")


def _expandctl_pids(conn: psycopg.Connection[Any]) -> list[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'expandctl' "
        "AND datname = current_database()"
    ).fetchall()
    return [row[0] for row in rows]


def test_lock_contention_never_queues_traffic_for_longer_than_lock_timeout(
    project: Project,
) -> None:
    lock_timeout = 0.5
    margin = 1.0
    project.query("CREATE TABLE accounts (id int PRIMARY KEY, balance int)")
    project.query("INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100) g")
    project.add("0001_accounts", expand="ALTER TABLE accounts ADD COLUMN note text;")

    config = project.config(lock_timeout=timedelta(seconds=lock_timeout), lock_retries=20)

    blocker = psycopg.connect(project.db.dsn)
    blocker.execute("SELECT count(*) FROM accounts")  # ACCESS SHARE, held: transaction open
    blocker_pid = blocker.info.backend_pid

    latencies: list[float] = []
    stop = threading.Event()

    def traffic() -> None:
        with psycopg.connect(project.db.dsn, autocommit=True) as conn:
            while not stop.is_set():
                started = time.monotonic()
                conn.execute("SELECT balance FROM accounts WHERE id = 7").fetchone()
                latencies.append(time.monotonic() - started)
                time.sleep(0.02)

    result: dict[str, Any] = {}

    def run_advance() -> None:
        result["report"] = advance(config)
        result["finished"] = time.monotonic()

    reader = threading.Thread(target=traffic)
    mover = threading.Thread(target=run_advance)
    reader.start()
    mover.start()
    # Release once advance has been refused the lock twice: no fixed sleep, which a
    # loaded machine could outlast before advance even reaches the ALTER.
    for _ in range(600):
        try:
            retries = project.one("SELECT count(*) FROM expandctl.events WHERE action = 'retry'")
        except psycopg.errors.UndefinedTable:  # the state schema is not created yet
            retries = 0
        if retries >= 2:
            break
        time.sleep(0.1)
    released = time.monotonic()
    blocker.commit()
    blocker.close()
    mover.join(timeout=60)
    stop.set()
    reader.join(timeout=10)

    report = result["report"]
    assert report.runs[0].retries >= 2
    assert result["finished"] > released  # it could only finish once the lock was free
    assert (
        project.one(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'accounts' AND column_name = 'note'"
        )
        == 1
    )
    assert len(latencies) > 5  # traffic was measured while advance waited
    assert max(latencies) < lock_timeout + margin, sorted(latencies)[-5:]
    retry = project.one(
        "SELECT detail FROM expandctl.events WHERE action = 'retry' ORDER BY id LIMIT 1"
    )
    assert f"blocked by pid {blocker_pid}" in retry
    assert "SELECT count(*) FROM accounts" in retry


def test_default_lock_timeout_is_one_second(tmp_path: Path) -> None:
    from expandctl.model.config import Settings

    assert Settings().lock_timeout.total_seconds() == 1.0


def test_when_retries_run_out_nothing_is_half_done(project: Project) -> None:
    project.query("CREATE TABLE accounts (id int PRIMARY KEY)")
    project.add(
        "0001_accounts",
        expand="CREATE TABLE side (id int);\nALTER TABLE accounts ADD COLUMN note text;",
    )
    # Long enough for the blocker watch (it polls every 100 ms) to see the blocker
    # even on a loaded machine.
    config = project.config(lock_timeout=timedelta(seconds=1), lock_retries=1)
    with psycopg.connect(project.db.dsn) as blocker:
        blocker.execute("SELECT count(*) FROM accounts")
        pid = blocker.info.backend_pid
        with pytest.raises(
            DatabaseError,
            match=rf"still waiting for a lock after 1 retries; "
            rf"blocked by pid {pid}",
        ):
            advance(config)
    assert project.one("SELECT to_regclass('side')") is None  # same transaction: rolled back
    assert project.state("0001_accounts") == "pending"
    outcomes = [r[0] for r in project.query("SELECT outcome FROM expandctl.events ORDER BY id")]
    assert outcomes == ["started", "lock-timeout", "failed"]
    advance(project.config())
    assert project.state("0001_accounts") == "expand"


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    import random

    from expandctl.engine.retry import BACKOFF_CAP_S, backoff_delay

    rng = random.Random(7)
    first = [backoff_delay(1, rng) for _ in range(50)]
    assert all(0.125 <= d <= 0.375 for d in first) and len(set(first)) > 1
    assert all(
        0.5 * BACKOFF_CAP_S <= backoff_delay(30, rng) <= 1.5 * BACKOFF_CAP_S for _ in range(20)
    )
    assert backoff_delay(3, random.Random(1)) > backoff_delay(1, random.Random(1))


def test_a_concurrent_index_build_outwaits_old_snapshots_instead_of_timing_out(
    project: Project,
) -> None:
    """CREATE INDEX CONCURRENTLY waits for every older snapshot (a report, pg_dump)
    without blocking traffic; lock_timeout must not turn that wait into a failed
    build, an INVALID index and a rebuild on every retry."""
    project.query("CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 100) g")
    project.add(
        "0001_items",
        expand="CREATE INDEX CONCURRENTLY items_id_idx ON items (id);\n"
        "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout;\n",
    )
    config = project.config(lock_timeout=timedelta(milliseconds=200), lock_retries=1)
    result: dict[str, Any] = {}

    def run_advance() -> None:
        try:
            result["report"] = advance(config)
        except Exception as exc:  # handed to the test thread
            result["error"] = exc

    with psycopg.connect(project.db.dsn) as report_query:
        report_query.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report_query.execute("SELECT count(*) FROM pg_class").fetchone()  # holds a snapshot
        mover = threading.Thread(target=run_advance)
        mover.start()
        with psycopg.connect(project.db.dsn, autocommit=True) as watcher:
            _wait_for(
                watcher,
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'virtualxid' AND NOT l.granted "
                "AND a.datname = current_database() AND a.application_name = 'expandctl'",
            )
            # Waiting well past lock_timeout (200 ms) is the point of the test.
            watcher.execute("SELECT pg_sleep(1)")
        report_query.rollback()
        mover.join(timeout=120)
    assert "error" not in result, result.get("error")
    assert result["report"].runs[0].retries == 0
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_id_idx'::regclass"
    assert project.one(valid) is True
    assert project.one("SELECT lock_timeout FROM seen") == "200ms"  # restored for later steps
    assert project.one("SELECT count(*) FROM expandctl.events WHERE action = 'retry'") == 0


def test_a_blockers_password_literal_is_masked_before_it_is_shown_or_recorded() -> None:
    from expandctl.engine.retry import scrub_query

    shown = scrub_query("ALTER ROLE app PASSWORD 'hun''ter2' VALID UNTIL 'infinity'")
    assert shown == "ALTER ROLE app PASSWORD '********' VALID UNTIL 'infinity'"
    assert "s3cret" not in scrub_query("CREATE USER x WITH PASSWORD 's3cret")  # cut at 200
    assert scrub_query("SELECT password FROM accounts") == "SELECT password FROM accounts"


@pytest.mark.parametrize(
    ("password", "tail"),
    [("se@cr3t", "cr3t"), ("pa%zzword", "zzword"), ("s3%cr3t@x", "cr3t")],
)
def test_a_password_with_an_unencoded_at_or_percent_never_shows_in_the_error(
    project: Project, password: str, tail: str
) -> None:
    project.write_config()
    url = f"postgresql://postgres:{password}@127.0.0.1:5432/postgres"
    config = str(project.root / "expandctl.toml")
    proc = subprocess.run(
        [sys.executable, "-m", "expandctl", "--config", config, "--database-url", url, "status"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert tail not in proc.stderr + proc.stdout
    [line] = proc.stderr.splitlines()
    assert "percent-encode" in line or "%25" in line


def test_redact_masks_a_url_password_holding_an_unencoded_at() -> None:
    from expandctl.model.redact import redact

    assert redact("cannot use postgresql://app:se@cr3t@db:5432/x now") == (
        "cannot use postgresql://app:********@db:5432/x now"
    )


def test_a_lock_retry_names_the_statement_that_waits_not_the_first_of_its_group(
    project: Project,
) -> None:
    project.query("CREATE TABLE accounts (id int PRIMARY KEY)")
    project.add(
        "0001_accounts",
        expand="CREATE TABLE side (id int);\nCREATE TABLE other (id int);\n"
        "ALTER TABLE accounts ADD COLUMN note text;\n",
    )
    config = project.config(lock_timeout=timedelta(seconds=1), lock_retries=1)
    with psycopg.connect(project.db.dsn) as blocker:
        blocker.execute("SELECT count(*) FROM accounts")
        with pytest.raises(DatabaseError) as raised:
            advance(config)
    assert str(raised.value).startswith("step 3 (expand.sql:3) of expand of 0001_accounts:")
    retry = project.one("SELECT detail FROM expandctl.events WHERE action = 'retry'")
    assert retry.startswith("step 3 (expand.sql:3) of expand of 0001_accounts: retry 1")


def test_kill_9_during_an_index_build_then_an_immediate_rerun_waits_for_the_orphan_build(
    project: Project,
) -> None:
    """The killed run's backend goes on building until it notices: the re-run must not
    drop the index under it ("tuple concurrently updated") but wait, then keep it."""
    project.query("CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 1000) g")
    project.add("0001_items", expand="CREATE INDEX CONCURRENTLY items_id_idx ON items (id);\n")
    progress = (
        "SELECT count(*) FROM pg_stat_progress_create_index"
        " WHERE datname = current_database() AND phase LIKE 'waiting for old snapshots'"
    )
    with (
        psycopg.connect(project.db.dsn, autocommit=True) as watcher,
        psycopg.connect(project.db.dsn) as snapshot,
    ):
        snapshot.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        snapshot.execute("SELECT count(*) FROM pg_class").fetchone()  # an old snapshot
        first = _start(project, project.db.url, "advance", "0001_items")
        _wait_for(watcher, progress)  # built, INVALID, waiting for our snapshot
        built = watcher.execute("SELECT 'items_id_idx'::regclass::oid").fetchone()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        rerun = _start(project, project.db.url, "advance", "0001_items")
        for _ in range(30):  # a lock-timeout retry would show within 3 s
            if project.one("SELECT count(*) FROM expandctl.events WHERE action = 'retry'"):
                break
            time.sleep(0.1)
        snapshot.rollback()  # the orphan build finishes
        _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert "still being built by pid" in err
    assert project.one("SELECT count(*) FROM expandctl.events WHERE action = 'retry'") == 0
    assert project.query(
        "SELECT indexrelid::oid, indisvalid FROM pg_index WHERE indrelid = 'items'::regclass"
    ) == [(built[0] if built else None, True)]
    assert project.state("0001_items") == "expand"
