"""A backfill hands the schema lock back: other migrations advance while it runs.

Every check runs from inside the backfill's progress callback, i.e. while the
backfilling ``advance`` is between two batches with its own connections open:
the other commands use their own connections, so the locks are really shared.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from expandctl.commands.advance import advance
from expandctl.commands.status import status
from expandctl.engine.backfill import BackfillProgress
from expandctl.engine.fencing import LostOwnershipError, take_lane_lease
from expandctl.errors import LockBusyError
from expandctl.model.state import Actor
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

MID = "0001_email_norm"
OTHER = "0002_orders"
MANIFEST = """
[backfill]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 400
"""


def _setup(project: Project) -> None:
    project.query("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
    project.query("INSERT INTO users SELECT g, 'A' || g || '@B.C' FROM generate_series(1, 2000) g")
    project.add(
        MID,
        manifest=MANIFEST,
        expand="ALTER TABLE users ADD COLUMN email_norm text;\n",
        expand_down="ALTER TABLE users DROP COLUMN email_norm;\n",
    )
    project.add(
        OTHER,
        expand="CREATE TABLE orders (id bigint PRIMARY KEY);\n",
        expand_down="DROP TABLE orders;\n",
    )
    expanded = project.cli("advance", MID)
    assert expanded.exit_code == 0, expanded.output


def test_another_migration_advances_while_a_backfill_runs(project: Project) -> None:
    _setup(project)
    # A short wait: before lanes, the other advance gave up after it.
    config = project.config(advisory_lock_wait=timedelta(seconds=1))
    seen: list[str] = []

    def tick(p: BackfillProgress) -> None:
        if seen:
            return
        other = advance(config, OTHER)
        seen.append(",".join(f"{r.migration_id}:{r.phase}" for r in other.runs))
        row = next(m for m in status(config).migrations if m.id == MID)
        assert row.in_progress is not None
        seen.append(f"running={row.in_progress.running} interrupted={row.in_progress.interrupted}")
        last_event = project.one("SELECT max(id) FROM expandctl.events")
        with pytest.raises(LockBusyError) as refused:
            advance(config, MID, accept_risk="would be recorded if it got that far")
        seen.append(refused.value.message)
        # Refused on the lane before anything was derived or written for it: the
        # audit log gains the refusal, not the accepted risk or a phase start.
        added = project.query(
            "SELECT action, outcome FROM expandctl.events WHERE id > %s", (last_event,)
        )
        assert added == [("advance", "refused")]

    report = advance(config, MID, progress=tick)
    assert [r.phase for r in report.runs] == ["backfill"]
    other_run, running, refusal = seen
    assert other_run == f"{OTHER}:expand"
    assert running == "running=True interrupted=False"
    assert f"another expandctl is running {MID} right now: pid " in refusal
    assert project.state(MID) == "backfill" and project.state(OTHER) == "expand"
    assert project.one("SELECT count(*) FROM users WHERE email_norm IS NULL") == 0
    # Both runs recorded their phase as done, each under the schema lock.
    outcomes = project.query(
        "SELECT migration_id, outcome FROM expandctl.events WHERE action = 'phase'"
        " AND outcome = 'ok' ORDER BY id"
    )
    assert outcomes == [(MID, "ok"), (OTHER, "ok"), (MID, "ok")]


def test_the_same_migration_is_refused_by_its_lane_not_the_lock_wait(project: Project) -> None:
    _setup(project)
    config = project.config(advisory_lock_wait=timedelta(seconds=30))
    refusals: list[str] = []

    def tick(p: BackfillProgress) -> None:
        if not refusals:
            with pytest.raises(LockBusyError) as refused:
                advance(config, MID)
            refusals.append(refused.value.hint or "")

    advance(config, MID, progress=tick)
    # The lane's refusal, not "gave up after waiting 30s" for the schema lock.
    assert refusals and "other migrations can advance: name one" in refusals[0]


def test_a_newer_lane_token_fences_out_the_older_run(project: Project) -> None:
    _setup(project)  # creates the state schema with the lane table
    actor = Actor(os_user="t", host="h", version="0", pid=1)
    wait = timedelta(seconds=1)
    with psycopg.connect(project.db.dsn, autocommit=True) as conn:
        old = take_lane_lease(conn, "expandctl", MID, actor, wait)
        new = take_lane_lease(conn, "expandctl", MID, actor, wait)
        assert new.token == old.token + 1
        with conn.transaction():
            new.check(conn, what=MID, committed="nothing")
        with pytest.raises(LostOwnershipError), conn.transaction():
            old.check(conn, what=MID, committed="nothing after batch 3")
        # Another migration's lane is its own: its token is untouched.
        other = take_lane_lease(conn, "expandctl", OTHER, actor, wait)
        assert other.token == 1


def test_plain_advance_and_advance_all_leave_a_running_backfill_to_its_run(
    project: Project,
) -> None:
    _setup(project)
    config = project.config(advisory_lock_wait=timedelta(seconds=1))
    reports = []

    def tick(p: BackfillProgress) -> None:
        if not reports:
            reports.append(advance(config))  # the default would be the interrupted MID
            reports.append(advance(config, all_migrations=True))

    advance(config, MID, progress=tick)
    plain, every = reports
    assert [(r.migration_id, r.phase) for r in plain.runs] == [(OTHER, "expand")]
    assert any(f"{MID} is running in another expandctl (pid " in m for m in plain.messages)
    assert every.stopped is None
    assert any(
        m.startswith(f"{MID} is running in another expandctl") and m.endswith("skipped")
        for m in every.messages
    )
    assert all(r.migration_id == OTHER for r in every.runs)
    assert project.state(MID) == "backfill"


def test_a_backfill_whose_lane_connection_dies_stops_and_a_rerun_resumes(
    project: Project,
) -> None:
    """Nobody takes over: the batches must stop on their own, not run on unseen."""
    from expandctl.engine.backfill import set_paused
    from expandctl.engine.locking import lane_key
    from expandctl.errors import DatabaseError

    _setup(project)
    config = project.config()
    killed: list[int] = []

    def tick(p: BackfillProgress) -> None:
        if killed:
            return
        with psycopg.connect(project.db.dsn, autocommit=True) as admin:
            # paused, so the run keeps ticking between polls instead of finishing
            set_paused(admin, schema="expandctl", migration_id=MID, paused=True)
            classid, objid = lane_key("expandctl", MID)
            row = admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid"
                " AND objid = %s::oid AND granted",
                (classid, objid),
            ).fetchone()
            assert row is not None
            admin.execute("SELECT pg_terminate_backend(%s, 10000)", (row[0],))
            killed.append(row[0])

    with pytest.raises(DatabaseError) as stopped:
        advance(config, MID, progress=tick)
    assert f"backfill of {MID} stopped: lost the connection holding its lane" in (
        stopped.value.message
    )
    assert project.one("SELECT count(*) FROM users WHERE email_norm IS NULL") > 0

    with psycopg.connect(project.db.dsn, autocommit=True) as admin:
        set_paused(admin, schema="expandctl", migration_id=MID, paused=False)
    report = advance(config, MID)
    assert [r.phase for r in report.runs] == ["backfill"]
    assert project.one("SELECT count(*) FROM users WHERE email_norm IS NULL") == 0
    assert project.state(MID) == "backfill"
