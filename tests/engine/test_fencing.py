"""Fencing: a run that lost the migration lock can never commit another step or batch.

Each test kills the connection holding the advisory lock (pg_terminate_backend
on its pid) while the run's work goes on, starts a second ``advance`` in that
window, and counts what was applied.
"""

from __future__ import annotations

import subprocess
from typing import Any

import psycopg
import pytest

from expandctl.commands.advance import load_set
from expandctl.engine.backfill import backfill_status
from expandctl.engine.locking import lane_key, lock_key
from expandctl.model.config import Settings
from expandctl.model.phases import Phase
from expandctl.model.state import MigrationRecord
from tests.engine.conftest import Project
from tests.engine.test_resilience import _start, _wait_for

pytestmark = [pytest.mark.db, pytest.mark.slow]

SETTINGS = {"lock_timeout": "2min", "advisory_lock_wait": "2min"}
# Group [1 2 3] (it waits on advisory lock 4242, which the test holds), an
# autocommit index build, then group [5].
LEDGER_EXPAND = """\
INSERT INTO ledger VALUES (1);
SELECT pg_advisory_xact_lock(4242);
INSERT INTO ledger VALUES (2);
CREATE INDEX CONCURRENTLY ledger_n ON ledger (n);
INSERT INTO ledger VALUES (3);
"""
BACKFILL_ROWS = 3000
BACKFILL_MANIFEST = """
[backfill]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 50
pause_ms = 10
"""


def _holder_pid(conn: psycopg.Connection[Any], key: tuple[int, int]) -> int | None:
    classid, objid = key
    row = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid"
        " AND objid = %s::oid AND objsubid = 2 AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (classid, objid),
    ).fetchone()
    return int(row[0]) if row else None


def _lock_holder_pid(conn: psycopg.Connection[Any]) -> int | None:
    return _holder_pid(conn, lock_key("expandctl"))


def _terminate_lock_connection(conn: psycopg.Connection[Any]) -> int:
    """Kill the run's control connection: it holds the schema lock, and during a
    backfill (which hands that lock back) its migration's lane."""
    pid = _lock_holder_pid(conn) or _holder_pid(conn, lane_key("expandctl", "0001_email_norm"))
    assert pid is not None, "nobody holds the expandctl lock or the migration's lane"
    conn.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
    return pid


def _wait_for_new_owner_waiting(conn: psycopg.Connection[Any], old: int) -> None:
    """The second run holds the expandctl lock, and one of its connections waits on a lock."""
    for _ in range(1200):
        holder = _lock_holder_pid(conn)
        if holder is not None and holder != old:
            break
        conn.execute("SELECT pg_sleep(0.05)")
    else:
        raise AssertionError("the second advance never took the lock")
    _wait_for(
        conn,
        "SELECT count(*) FROM pg_stat_activity a WHERE a.application_name = 'expandctl'"
        " AND a.datname = current_database() AND a.wait_event_type = 'Lock'"
        " AND a.backend_start > (SELECT backend_start FROM pg_stat_activity WHERE pid = %s)",
        (holder,),
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_lock_connection_killed_mid_group_then_a_second_advance_applies_every_step_once(
    project: Project,
) -> None:
    project.query("CREATE TABLE ledger (n int)")
    project.add("0001_ledger", expand=LEDGER_EXPAND)
    with psycopg.connect(project.db.dsn, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(4242)")
        first = _start(project, project.db.url, "advance", "0001_ledger", config=SETTINGS)
        _wait_for(
            gate,
            "SELECT count(*) FROM pg_locks WHERE objid = 4242 AND NOT granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        # The first run is inside its first transaction group: kill its lock connection.
        killed = _terminate_lock_connection(gate)
        second = _start(project, project.db.url, "advance", "0001_ledger", config=SETTINGS)
        _wait_for_new_owner_waiting(gate, killed)
        gate.execute("SELECT pg_advisory_unlock(4242)")
        code1, _, err1 = _finish(first)
        code2, _, err2 = _finish(second)
    third = _start(project, project.db.url, "advance", "0001_ledger", config=SETTINGS)
    code3, out3, err3 = _finish(third)

    assert project.query("SELECT n FROM ledger ORDER BY n") == [(1,), (2,), (3,)]
    assert project.state("0001_ledger") == "expand"
    assert code3 == 0 and "expand done" in out3, err3
    # The first run stops with one line naming the migration; no library noise.
    assert code1 != 0
    [line1] = _error_lines(err1)
    assert "0001_ledger" in line1
    # Which of the two it says depends on whether the takeover committed first.
    assert (
        "lost ownership of 0001_ledger to" in line1
        or "lost the connection holding the advisory lock" in line1
    ), err1
    assert "nothing after step 3/5 was committed by this run" in line1, err1
    assert "WARNING" not in err1, err1
    assert code2 in (0, 4), err2


def _setup_backfill(project: Project) -> None:
    project.query(
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, touches int NOT NULL"
        " DEFAULT 0)"
    )
    project.query(
        "INSERT INTO users (id, email) SELECT g, 'A' || g || '@B.C' FROM generate_series(1, %s) g",
        (BACKFILL_ROWS,),
    )
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
        "0001_email_norm",
        manifest=BACKFILL_MANIFEST,
        expand="ALTER TABLE users ADD COLUMN email_norm text;\n",
    )
    expanded = project.cli("advance", "0001_email_norm")
    assert expanded.exit_code == 0, expanded.output


def _rows_done(conn: psycopg.Connection[Any]) -> int:
    try:
        checkpoints = backfill_status(conn, schema="expandctl", migration_id="0001_email_norm")
    except psycopg.errors.UndefinedTable:
        return 0
    return checkpoints[0].rows_done if checkpoints else 0


def test_lock_connection_killed_mid_backfill_then_a_second_advance_applies_every_batch_once(
    project: Project,
) -> None:
    _setup_backfill(project)
    with (
        psycopg.connect(project.db.dsn, autocommit=True) as watcher,
        psycopg.connect(project.db.dsn) as gate,
    ):
        # A row halfway holds the first run inside one batch's transaction.
        gate.execute("SELECT * FROM users WHERE id = 1500 FOR UPDATE")
        first = _start(project, project.db.url, "advance", "0001_email_norm", config=SETTINGS)
        _wait_for(
            watcher,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'expandctl'"
            " AND datname = current_database() AND wait_event_type = 'Lock'",
        )
        assert 1000 <= _rows_done(watcher) < 1500
        killed = _terminate_lock_connection(watcher)
        second = _start(project, project.db.url, "advance", "0001_email_norm", config=SETTINGS)
        _wait_for_new_owner_waiting(watcher, killed)
        gate.rollback()
        code1, _, err1 = _finish(first)
        code2, out2, err2 = _finish(second)
        [checkpoint] = backfill_status(watcher, schema="expandctl", migration_id="0001_email_norm")

    # Every row updated exactly once, and the checkpoint counts exactly those rows.
    assert project.one("SELECT count(*) FROM users WHERE touches <> 1") == 0
    assert (
        project.one("SELECT count(*) FROM users WHERE email_norm IS DISTINCT FROM lower(email)")
        == 0
    )
    assert checkpoint.finished and checkpoint.remaining == 0
    assert checkpoint.rows_done == BACKFILL_ROWS, checkpoint
    assert checkpoint.last_key == checkpoint.end_key
    # The first run's last batch committed before the second run's first one began.
    spans = project.query(
        "SELECT pid, min(at), max(at) FROM touch_log GROUP BY pid ORDER BY min(at)"
    )
    assert len(spans) == 2, (spans, err1, err2)
    assert spans[0][2] < spans[1][1], spans
    assert code2 == 0 and "backfill done" in out2, err2
    assert project.state("0001_email_norm") == "backfill"
    assert code1 != 0, err1
    [line1] = _error_lines(err1)
    # Whichever notices first stops the run: the fencing token at its next batch, or,
    # when its batch was held for over LANE_CHECK_S (a slow machine starting the
    # second run), the lane watch right after that batch. Both commit nothing more.
    fenced = "lost ownership of 0001_email_norm to" in line1 and "nothing after batch" in line1
    lane_lost = (
        "lost the connection holding its lane" in line1
        and "every batch it committed is checkpointed" in line1
    )
    assert fenced or lane_lost, err1
    assert "WARNING" not in err1, err1


def _lease_ready(project: Project) -> None:
    from expandctl.engine.connection import current_actor
    from expandctl.engine.store import StateStore

    with psycopg.connect(project.db.dsn, autocommit=True) as conn:
        StateStore("expandctl").ensure(conn, current_actor())


def test_a_stale_token_commits_nothing_and_a_takeover_waits_for_the_open_transaction(
    project: Project,
) -> None:
    import threading
    from datetime import timedelta

    from expandctl.engine.connection import current_actor
    from expandctl.engine.fencing import Fence, LostOwnershipError, take_lease

    _lease_ready(project)
    project.query("CREATE TABLE ledger (n int)")
    actor = current_actor()
    wait = timedelta(seconds=60)
    with (
        psycopg.connect(project.db.dsn, autocommit=True) as old,
        psycopg.connect(project.db.dsn, autocommit=True) as new,
    ):
        mine: Fence = take_lease(old, "expandctl", actor, wait)
        taken: list[Fence] = []
        with old.transaction():
            mine.check(old, what="0001_x", committed="nothing")
            old.execute("INSERT INTO ledger VALUES (1)")
            takeover = threading.Thread(
                target=lambda: taken.append(take_lease(new, "expandctl", actor, wait))
            )
            takeover.start()
            takeover.join(timeout=1)
            assert takeover.is_alive() and not taken  # it waits for this transaction
        takeover.join(timeout=60)
        assert taken and taken[0].token == mine.token + 1
        lost = r"lost ownership of 0001_x to .* pid \d+"
        with pytest.raises(LostOwnershipError, match=lost), old.transaction():
            old.execute("INSERT INTO ledger VALUES (2)")
            mine.check(old, what="0001_x", committed="nothing after step 1")
    assert project.query("SELECT n FROM ledger") == [(1,)]


def test_a_takeover_behind_an_open_transaction_gives_up_naming_it(project: Project) -> None:
    from datetime import timedelta

    from expandctl.engine.connection import current_actor
    from expandctl.engine.fencing import take_lease
    from expandctl.errors import LockBusyError

    _lease_ready(project)
    actor = current_actor()
    with (
        psycopg.connect(project.db.dsn, autocommit=True, application_name="old-run") as old,
        psycopg.connect(project.db.dsn, autocommit=True) as new,
    ):
        mine = take_lease(old, "expandctl", actor, timedelta(seconds=5))
        pid = old.info.backend_pid
        with old.transaction():
            mine.check(old, what="0001_x", committed="nothing")
            with pytest.raises(LockBusyError) as raised:
                take_lease(new, "expandctl", actor, timedelta(milliseconds=300))
    message = str(raised.value)
    assert f"pid {pid} (idle in transaction, application 'old-run')" in message
    assert "gave up after waiting 0.3s" in message


def test_an_empty_phase_is_not_recorded_under_a_lost_lease(project: Project) -> None:
    """The one-statement record of a phase without steps is fenced like every other write."""
    from datetime import timedelta

    from expandctl.engine.connection import current_actor
    from expandctl.engine.empty_phase import record_empty_phase
    from expandctl.engine.fencing import LostOwnershipError, take_lease
    from expandctl.engine.runner import RunContext
    from expandctl.engine.store import StateStore
    from expandctl.model.planning import plan_phase

    _lease_ready(project)
    project.add("0001_nothing")
    migration = load_set(project.config()).migrations[0]
    plan = plan_phase(migration, Phase.EXPAND)
    actor, wait = current_actor(), timedelta(seconds=10)
    with (
        psycopg.connect(project.db.dsn, autocommit=True) as old,
        psycopg.connect(project.db.dsn, autocommit=True) as new,
    ):
        mine = take_lease(old, "expandctl", actor, wait)
        take_lease(new, "expandctl", actor, wait)  # another run took the migration over
        ctx = RunContext(
            work=old,
            control=old,
            store=StateStore("expandctl"),
            actor=actor,
            settings=Settings(),
            connect=lambda: psycopg.connect(project.db.dsn, autocommit=True),
            fence=mine,
        )
        record = MigrationRecord(id=migration.id)
        with pytest.raises(LostOwnershipError, match="nothing of it was recorded"):
            record_empty_phase(ctx, plan, migration, record)
    assert project.query("SELECT count(*) FROM expandctl.migrations") == [(0,)]
    assert project.query("SELECT count(*) FROM expandctl.events WHERE action = 'phase'") == [(0,)]
