"""Prometheus metrics (HTTP while running, textfile at the end) and ``--log-format json``.

The database tests run ``expandctl`` as a real subprocess against the test
database and scrape its endpoint over real HTTP while a backfill waits, paused.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from expandctl.cli.app import cli
from expandctl.cli.metrics import start_metrics, throttle_reason
from expandctl.engine import events
from tests.conftest import PROJECT_ROOT, PgDatabase

MIGRATION = "0001_email_norm"
ROWS = 5000
MANIFEST = """description = "normalise emails"
[backfill]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 700
"""
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WAIT_S = 120.0  # an upper bound for a hung run, not a speed assertion

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _project(root: Path, *, config: str = "") -> Path:
    folder = root / "migrations" / MIGRATION
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text(MANIFEST)
    (folder / "expand.sql").write_text("ALTER TABLE users ADD COLUMN email_norm text;\n")
    (folder / "expand.down.sql").write_text("ALTER TABLE users DROP COLUMN email_norm;\n")
    (root / "expandctl.toml").write_text(f'migrations_dir = "migrations"\n{config}')
    return root


def _url_with_password(db: PgDatabase) -> tuple[str, str]:
    """The test URL with a password in it (trust auth ignores it): it must never be shown."""
    parts = urlsplit(db.url)
    if parts.password:
        return db.url, parts.password
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}:secretpw@{host}")), "secretpw"


def _in_process(root: Path, url: str, *args: str) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(root / "expandctl.toml"), "--database-url", url, *args]
    )
    assert result.exit_code == 0, result.output


def _spawn(root: Path, url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("EXPANDCTL_DATABASE_URL", None)
    config = str(root / "expandctl.toml")
    return subprocess.Popen(
        [sys.executable, "-m", "expandctl", "--config", config, "--database-url", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _scrape(port: int) -> Samples | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return _samples(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None  # not listening yet


def _json_lines(stderr: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines()]  # every line is JSON
    for line in lines:
        assert {"ts", "level", "event", "message"} <= line.keys(), line
        assert RFC3339_UTC.match(str(line["ts"])), line["ts"]
        assert line["level"] in {"debug", "info", "warning", "error"}
    return lines


def _events(lines: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [line for line in lines if line["event"] == name]


@pytest.fixture
def users(pg_database: PgDatabase) -> PgDatabase:
    with pg_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
        conn.execute(
            "INSERT INTO users SELECT g, 'A' || g || '@B.C' FROM generate_series(1, %s) g",
            (ROWS,),
        )
    return pg_database


@pytest.mark.db
def test_a_paused_backfill_is_scraped_mid_run_and_the_textfile_holds_the_totals(
    tmp_path: Path, users: PgDatabase
) -> None:
    root = _project(tmp_path)
    url, password = _url_with_password(users)
    _in_process(root, url, "advance", MIGRATION)  # expand
    _in_process(root, url, "backfill", "pause", MIGRATION)  # the backfill waits from the start
    port, textfile = _free_port(), tmp_path / "expandctl.prom"
    proc = _spawn(
        root,
        url,
        "--metrics-port",
        str(port),
        "--metrics-textfile",
        str(textfile),
        "--log-format",
        "json",
        "advance",
        MIGRATION,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        mid: Samples | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            mid = _scrape(port)
            if mid and _value(mid, "expandctl_backfill_throttled", migration=MIGRATION) == 1:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        assert mid is not None
        phase = {"migration": MIGRATION, "phase": "backfill", "direction": "forward"}
        assert _value(mid, "expandctl_phase_in_progress", **phase) == 1
        pauses = {"migration": MIGRATION, "reason": "paused"}
        assert _value(mid, "expandctl_backfill_throttle_pauses_total", **pauses) == 1
        assert _value(mid, "expandctl_backfill_rows_total", migration=MIGRATION) is None
        assert _value(mid, "expandctl_phase_transitions_total", **phase, result="ok") is None
        # The textfile was written when the phase started: it shows the run too.
        early = _samples(textfile.read_text())
        assert _value(early, "expandctl_phase_in_progress", **phase) == 1

        _in_process(root, url, "backfill", "resume", MIGRATION)
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr

    with users.connect() as conn:
        row = conn.execute("SELECT count(*) FROM users WHERE email_norm = lower(email)").fetchone()
    assert row == (ROWS,)
    final = _samples(textfile.read_text())
    assert _value(final, "expandctl_backfill_rows_total", migration=MIGRATION) == ROWS
    assert _value(final, "expandctl_backfill_batches_total", migration=MIGRATION) == 8
    count = "expandctl_backfill_batch_duration_seconds_count"
    assert _value(final, count, migration=MIGRATION) == 8  # ceil(5000 / 700)
    assert _value(final, "expandctl_phase_transitions_total", **phase, result="ok") == 1
    assert _value(final, "expandctl_phase_duration_seconds_count", **phase, result="ok") == 1
    assert _value(final, "expandctl_steps_total", **phase) == 1
    assert _value(final, "expandctl_phase_in_progress", **phase) == 0
    assert _value(final, "expandctl_backfill_throttled", migration=MIGRATION) == 0
    assert _value(final, "expandctl_backfill_rows_done", migration=MIGRATION) == ROWS
    assert _value(final, "expandctl_backfill_batch_retries_total", migration=MIGRATION) == 0
    assert not list(tmp_path.glob("expandctl.prom.*"))  # no temporary file left behind

    assert password not in stderr and password not in stdout
    lines = _json_lines(stderr)
    [started] = _events(lines, "phase_started")
    assert started["migration"] == MIGRATION and started["phase"] == "backfill"
    ticks = _events(lines, "backfill_progress")
    assert ticks[0]["throttled_reason"] == "paused" and ticks[0]["rows_done"] == 0
    [finished] = _events(lines, "backfill_finished")
    assert finished["rows_updated"] == ROWS and finished["batches"] == 8
    [done] = _events(lines, "phase_finished")
    assert done["result"] == "ok" and done["direction"] == "forward"
    [listening] = _events(lines, "metrics_listening")
    assert listening["port"] == port and listening["host"] == "127.0.0.1"
    # Plain log messages inside the phase carry it too.
    assert any(line["event"] == "log" and line.get("phase") == "backfill" for line in lines)
    assert "backfill done" in stdout  # the report itself stays on stdout, as text


@pytest.mark.db
def test_lock_retries_are_counted_by_reason(tmp_path: Path, users: PgDatabase) -> None:
    root = _project(tmp_path, config='lock_timeout = "100ms"\nlock_retries = 50\n')
    url, _ = _url_with_password(users)
    textfile = tmp_path / "expandctl.prom"
    with users.connect() as blocker:
        blocker.execute("LOCK TABLE users IN ACCESS SHARE MODE")  # the ALTER must wait
        proc = _spawn(
            root, url, "--metrics-textfile", str(textfile), "--log-format", "json", "advance"
        )
        lines: queue.Queue[str] = queue.Queue()
        collected: list[str] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.put(line)
            lines.put("")  # end of stderr

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            while True:
                line = lines.get(timeout=WAIT_S)
                assert line, f"exited before any lock retry: {''.join(collected)}"
                collected.append(line)
                if json.loads(line)["event"] == "lock_retry":
                    break
        finally:
            blocker.rollback()  # let the ALTER through
    assert proc.wait(timeout=WAIT_S) == 0, "".join(collected)
    reader.join(timeout=WAIT_S)  # it read stderr to the end
    while not lines.empty():
        collected.append(lines.get_nowait())
    collected.remove("")
    logged = _json_lines("".join(collected))
    retries = _events(logged, "lock_retry")
    assert retries and all(r["reason"] == "lock_timeout" for r in retries)
    assert retries[0]["migration"] == MIGRATION and retries[0]["phase"] == "expand"
    # Who blocked: the watcher polls every 0.1 s, so a loaded machine may not see it.
    assert isinstance(retries[0]["blocker"], str)
    [done] = _events(logged, "phase_finished")
    assert done["lock_retries"] == len(retries)

    final = _samples(textfile.read_text())
    labels = {"migration": MIGRATION, "phase": "expand", "direction": "forward"}
    counted = _value(final, "expandctl_lock_retries_total", **labels, reason="lock_timeout")
    assert counted == len(retries)
    assert _value(final, "expandctl_phase_transitions_total", **labels, result="ok") == 1


@pytest.mark.db
def test_a_failing_phase_is_counted_and_its_error_is_a_json_line(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    root = _project(tmp_path)  # no users table: expand fails
    url, password = _url_with_password(pg_database)
    textfile = tmp_path / "run.prom"
    proc = _spawn(root, url, "--metrics-textfile", str(textfile), "--log-format", "json", "advance")
    stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 3, stderr
    assert password not in stderr + stdout
    lines = _json_lines(stderr)
    [done] = _events(lines, "phase_finished")
    assert done["result"] == "failed" and done["level"] == "error"
    assert 'relation "users" does not exist' in str(done["message"])
    error = lines[-1]
    assert error["event"] == "error" and error["exit_code"] == 3
    final = _samples(textfile.read_text())
    labels = {"migration": MIGRATION, "phase": "expand", "direction": "forward"}
    assert _value(final, "expandctl_phase_transitions_total", **labels, result="failed") == 1
    assert _value(final, "expandctl_steps_total", **labels) is None


def test_lint_never_imports_prometheus_client_unless_metrics_are_asked_for(
    tmp_path: Path,
) -> None:
    (tmp_path / "x.sql").write_text("SELECT 1;\n")
    probe = (
        "import sys\nfrom expandctl.cli.app import main\nsys.argv = ['expandctl', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED' if 'prometheus_client' in sys.modules else 'NOT LOADED')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        return done.stdout.strip().splitlines()[-1]

    assert run("lint", "x.sql") == "NOT LOADED"
    assert run("--log-format", "json", "lint", "x.sql") == "NOT LOADED"
    textfile = tmp_path / "lint.prom"
    assert run("--metrics-textfile", str(textfile), "lint", "x.sql") == "LOADED"
    assert "# TYPE expandctl_phase_transitions_total counter" in textfile.read_text()


def test_bad_metrics_options_are_usage_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "x.prom"
    result = CliRunner().invoke(cli, ["--metrics-textfile", str(missing), "list"])
    assert result.exit_code == 2
    assert f"directory {missing.parent} does not exist" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--metrics-port", str(port), "list"])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_replication_lag_gauges_hold_the_last_value(tmp_path: Path) -> None:
    path = tmp_path / "lag.prom"
    stop = start_metrics(host="127.0.0.1", port=None, textfile=path)
    try:
        events.emit("replication_lag", "s1 behind", standby="s1", lag_bytes=4096, lag_seconds=2.5)
        events.emit("replication_lag", "s1 caught up", standby="s1", lag_bytes=0, lag_seconds=0.0)
        events.emit("replication_lag", "s2 behind", standby="s2", lag_bytes=10, lag_seconds=1.0)
    finally:
        stop()
    final = _samples(path.read_text())
    assert _value(final, "expandctl_replication_lag_bytes", standby="s1") == 0
    assert _value(final, "expandctl_replication_lag_seconds", standby="s2") == 1.0
    assert not events.listening()  # stop() unsubscribed


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("paused", "paused"),
        (
            "waiting: standby replica1 is 12.0 MB / 3.1 s behind (max_replication_lag 1 s)",
            "replication_lag",
        ),
        (
            "waiting: logical replication slot s retains 90.0 MB of WAL"
            " (max_slot_retained_wal_bytes 64.0 MB)",
            "replication_slot",
        ),
        ("WAL rate above max_wal_bytes_per_second", "wal_rate"),
        ("something new", "other"),
        (None, "none"),
    ],
)
def test_throttle_reasons_become_a_few_label_values(reason: str | None, label: str) -> None:
    assert throttle_reason(reason) == label


def _tick(rows_done: int, scanned: int, reason: str | None = None) -> None:
    events.emit(
        "backfill_progress",
        "tick",
        migration=MIGRATION,
        index=0,
        rows_done=rows_done,
        rows_scanned=scanned,
        rows_estimate=10_000,
        last_batch_ms=20.0,
        paused=reason == "paused",
        throttled_reason=reason,
    )


def test_a_resumed_backfill_counts_only_its_own_rows(tmp_path: Path) -> None:
    """The first report of a resumed pass already holds the earlier run's rows."""
    path = tmp_path / "resumed.prom"
    stop = start_metrics(host="127.0.0.1", port=None, textfile=path)
    try:
        _tick(3000, 3000)  # 2300 from the interrupted run + this run's first batch
        _tick(3700, 3700)
        _tick(3700, 3700, "waiting: standby r1 is 80.0 MB / 9.0 s behind (max_replication_lag 5 s)")
        _tick(3700, 3700, "waiting: standby r1 is 60.0 MB / 7.0 s behind (max_replication_lag 5 s)")
        _tick(4400, 4400)
        events.emit(
            "backfill_finished", "done", migration=MIGRATION, index=0, rows_updated=2100,
            rows_done=4400, batches=3,
        )  # fmt: skip
    finally:
        stop()
    final = _samples(path.read_text())
    assert _value(final, "expandctl_backfill_rows_total", migration=MIGRATION) == 2100
    assert _value(final, "expandctl_backfill_batches_total", migration=MIGRATION) == 3
    lag = {"migration": MIGRATION, "reason": "replication_lag"}
    assert _value(final, "expandctl_backfill_throttle_pauses_total", **lag) == 1  # one wait
    assert _value(final, "expandctl_backfill_throttled", migration=MIGRATION) == 0
