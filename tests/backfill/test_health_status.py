"""A backfill pause as release managers see it: in ``status`` now, in ``history`` after."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from expandctl.commands.advance import advance
from expandctl.commands.status import status
from tests.backfill.helpers import make_users
from tests.conftest import PgDatabase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

MID = "0001_email_norm"
MANIFEST = """
[backfill]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 100
health_check = "SELECT ok FROM health_flag"
"""
CHECK = "(SELECT ok FROM health_flag)"


def test_status_shows_the_wait_and_history_records_it(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    project = Project(root=tmp_path, db=pg_database, overrides={})
    make_users(pg_database, 300)
    project.query("CREATE TABLE health_flag (ok boolean)")
    project.query("INSERT INTO health_flag VALUES (false)")
    project.add(
        MID,
        manifest=MANIFEST,
        expand="ALTER TABLE users ADD COLUMN IF NOT EXISTS email_norm text;\n",
        expand_down="SELECT 1;\n",
    )
    assert project.cli("advance", MID).exit_code == 0
    outcome: list[Any] = []
    runner = threading.Thread(target=lambda: outcome.append(advance(project.config(), MID)))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not (row := status(project.config()).migrations[0]).backfill_waiting:
            assert time.monotonic() < deadline, "status never showed the wait"
            time.sleep(0.1)
        assert re.fullmatch(
            rf"waiting: health_check is false: {re.escape(CHECK)} since \d\d:\d\d:\d\d \S+",
            row.backfill_waiting,
        ), row.backfill_waiting
        shown = project.cli("status").output
        assert f"    backfill waiting: health_check is false: {CHECK} since " in shown
        assert project.one("SELECT count(*) FROM users WHERE email_norm IS NOT NULL") == 100
    finally:
        project.query("UPDATE health_flag SET ok = true")
        runner.join(30)
    assert outcome and project.state(MID) == "backfill"
    assert status(project.config()).migrations[0].backfill_waiting is None
    history = project.cli("history", MID).output
    waited = re.search(r"backfill-wait resumed (\d+)ms .*health_check is false", history)
    assert "backfill-wait waiting" in history and waited, history
    assert int(waited.group(1)) >= 500


def test_a_wait_that_comes_and_goes_is_one_pause_in_history(
    pg_database: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lock waits flap every second on a busy table: one waiting/resumed pair for
    waits that come back within MERGE_S, a new pair for one that comes back later."""
    import psycopg

    from expandctl.engine.backfill import health
    from expandctl.engine.connection import current_actor
    from expandctl.engine.store import StateStore

    monkeypatch.setattr(health, "MERGE_S", 0.5)  # "later" without a 10 s test
    store = StateStore("expandctl")
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        store.ensure(conn, current_actor())
        log = health.PauseLog(store, MID, home=conn)

        def wait(kind: str | None, seconds: float) -> None:
            log.observe(conn, kind, f"waiting: {kind}" if kind else None)
            time.sleep(seconds)

        for _ in range(3):  # three flaps, each back within MERGE_S
            wait("lock_waits", 0.3)
            wait(None, 0.1)
        wait("lock_waits", 0.3)  # the same pause: now long enough to be recorded
        wait(None, 0.7)  # stopped for longer than MERGE_S
        wait(None, 0)  # the next look closes it
        wait("lock_waits", 0.6)  # a new pause...
        wait("lock_waits", 0)  # ...seen again after 0.6 s: recorded
        log.flush()  # the backfill ended
        rows = conn.execute(
            "SELECT outcome, duration_ms FROM expandctl.events"
            " WHERE action = 'backfill-wait' ORDER BY id"
        ).fetchall()
    assert [outcome for outcome, _ in rows] == ["waiting", "resumed", "waiting", "resumed"]
    first_whole = rows[1][1]
    assert first_whole is not None and first_whole >= 1400  # 4 x 0.3 s + 3 x 0.1 s
