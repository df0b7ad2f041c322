"""Identity of migrations: a renamed folder never runs twice, a missing one never goes
unnoticed, and ``status``/``history`` always work; ``forget`` accounts for them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from expandctl.commands.advance import AdvanceReport, advance
from expandctl.commands.plan import plan
from expandctl.commands.status import status
from expandctl.engine.locking import lock_key
from expandctl.errors import StateError
from expandctl.model.phases import Phase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

# Not idempotent on purpose: running expand twice inserts a second row.
EXPAND = "INSERT INTO audit VALUES (1);\n"


def _add(project: Project, migration_id: str, **manifest: str) -> Path:
    return project.add(
        migration_id,
        expand=EXPAND.replace("1", str(sum(map(ord, migration_id)))),
        expand_down="DELETE FROM audit;\n",
        **manifest,
    )


def _audit_rows(project: Project) -> int:
    return int(project.one("SELECT count(*) FROM audit"))


@pytest.fixture
def audited(project: Project) -> Project:
    project.query("CREATE TABLE audit (n int)")
    return project


def test_a_renumbered_applied_migration_is_refused_not_run_again(audited: Project) -> None:
    project = audited
    folder = _add(project, "0001_audit")
    advance(project.config())
    folder.rename(project.migrations / "0007_audit")
    with pytest.raises(StateError, match="0007_audit looks like 0001_audit renamed") as info:
        advance(project.config(), "0007_audit")
    assert "expandctl forget 0001_audit --renamed-to 0007_audit" in (info.value.hint or "")
    assert _audit_rows(project) == 1
    # advance --all and plan say the same, from the same derivation.
    report = advance(project.config(), all_migrations=True)
    assert report.stopped is not None and "looks like 0001_audit renamed" in report.stopped.message
    assert any("looks like 0001_audit renamed" in r for r in plan(project.config()).refusals)
    assert _audit_rows(project) == 1 and project.state("0007_audit") is None


def test_forget_renamed_to_moves_the_state_and_the_phase_goes_on(audited: Project) -> None:
    project = audited
    folder = _add(project, "0001_audit")
    advance(project.config())
    folder.rename(project.migrations / "0007_audit")
    result = project.cli(
        "forget", "0001_audit", "--renamed-to", "0007_audit", "--reason", "renumbered on merge"
    )
    assert result.exit_code == 0, result.output
    assert "0001_audit renamed to 0007_audit" in result.output
    assert project.state("0001_audit") is None and project.state("0007_audit") == "expand"
    assert advance(project.config()).runs[0].phase == "backfill"
    assert _audit_rows(project) == 1
    history = project.cli("history", "0007_audit").output
    assert "forget renamed" in history and "renumbered on merge" in history


def test_forget_refuses_a_present_folder_and_a_rename_to_other_files(audited: Project) -> None:
    project = audited
    folder = _add(project, "0001_audit")
    advance(project.config())
    present = project.cli("forget", "0001_audit", "--reason", "x")
    assert present.exit_code == 2 and "forget only drops the record" in present.output
    folder.rename(project.migrations / "0007_audit")
    (project.migrations / "0007_audit" / "expand.sql").write_text("INSERT INTO audit VALUES (9);")
    other = project.cli("forget", "0001_audit", "--renamed-to", "0007_audit", "--reason", "x")
    assert other.exit_code == 4, other.output
    assert "are not what 0001_audit ran" in other.output
    assert project.state("0001_audit") == "expand"  # nothing changed


def test_a_deleted_in_flight_folder_stops_advance_all(audited: Project) -> None:
    project = audited
    first = _add(project, "0001_audit")
    _add(project, "0002_other")
    advance(project.config(), "0001_audit")
    for path in first.iterdir():
        path.unlink()
    first.rmdir()
    report = advance(project.config(), all_migrations=True)
    assert report.runs == []
    assert report.stopped is not None
    assert "0001_audit is recorded expand but its folder is MISSING" in report.stopped.message
    assert "expandctl forget 0001_audit" in (report.stopped.hint or "")
    assert project.state("0002_other") is None
    with pytest.raises(StateError, match="MISSING"):
        advance(project.config())
    # Forgetting it on purpose (recorded in history) lets the others move on.
    result = project.cli("forget", "0001_audit", "--reason", "abandoned: feature dropped")
    assert result.exit_code == 0, result.output
    assert advance(project.config(), all_migrations=True).runs[0].migration_id == "0002_other"
    assert "abandoned: feature dropped" in project.cli("history").output


def test_status_and_history_work_when_a_required_folder_is_deleted(audited: Project) -> None:
    project = audited
    first = _add(project, "0001_audit")
    _add(project, "0002_needs", manifest='requires = ["0001_audit"]\n')
    advance(project.config(), "0001_audit")
    for path in first.iterdir():
        path.unlink()
    first.rmdir()
    rows = {r.id: r for r in status(project.config()).migrations}
    assert rows["0001_audit"].on_disk is False
    assert "MISSING" in rows["0001_audit"].next_action
    assert any("MISSING" in b for b in rows["0002_needs"].blocked)
    shown = project.cli("status")
    assert shown.exit_code == 0 and "MISSING from disk" in shown.output
    logged = project.cli("history")
    assert logged.exit_code == 0 and "0001_audit expand forward (MISSING from disk)" in (
        logged.output
    )
    by_number = project.cli("history", "1")
    assert by_number.exit_code == 0 and "0001_audit" in by_number.output


def test_an_identical_migration_whose_phases_do_nothing_is_not_a_rename(project: Project) -> None:
    project.add("0001_empty", manifest='[gates.contract]\nsql = "SELECT true"\n')
    advance(project.config())
    (project.migrations / "0001_empty").rename(project.migrations / "0002_empty")
    # The expand of an empty migration does nothing: no reason to think it was renamed.
    with pytest.raises(StateError) as info:
        advance(project.config(), "0002_empty")
    assert "looks like" not in info.value.message and "MISSING" in info.value.message


def test_advance_all_over_many_migrations_runs_each_phase_once(project: Project) -> None:
    for n in range(1, 31):
        project.add(f"{n:04d}_t{n}", expand=f"CREATE TABLE t{n} (id int);")
    report = advance(project.config(), all_migrations=True, to=None)
    assert [r.migration_id for r in report.runs] == [f"{n:04d}_t{n}" for n in range(1, 31)]
    report = advance(project.config(), all_migrations=True)
    assert {r.phase for r in report.runs} == {"backfill"} and len(report.runs) == 30
    states = project.query("SELECT DISTINCT state FROM expandctl.migrations")
    assert states == [("backfill",)]


def test_advance_all_stops_when_another_run_changed_state_while_it_waited(
    project: Project,
) -> None:
    for n in range(1, 31):
        project.add(f"{n:04d}_t{n}", expand=f"CREATE TABLE t{n} (id int);")
    advance(project.config(), all_migrations=True)
    config = project.config(advisory_lock_wait="2min")
    result: list[AdvanceReport] = []
    with psycopg.connect(project.db.dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", lock_key("expandctl"))
        worker = threading.Thread(
            target=lambda: result.append(advance(config, all_migrations=True))
        )
        worker.start()
        _wait_until_polling(holder)
        # "Another expandctl" moves 0017 on while this one waits for the lock.
        holder.execute("UPDATE expandctl.migrations SET state = 'backfill' WHERE id = '0017_t17'")
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", lock_key("expandctl"))
        worker.join(timeout=120)
    assert result and result[0].runs == []
    stopped = result[0].stopped
    assert stopped is not None and "another expandctl changed 0017_t17" in stopped.message
    states = project.query("SELECT state, count(*) FROM expandctl.migrations GROUP BY 1 ORDER BY 1")
    assert states == [("backfill", 1), ("expand", 29)]


def _wait_until_polling(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE 'SELECT pg_try_advisory_lock%%'"
        ).fetchone()
        if row and int(str(row[0])) > 0:
            return
        time.sleep(0.05)
    raise AssertionError("advance never started waiting for the lock")


def test_phases_with_nothing_to_run_are_recorded_like_any_other(project: Project) -> None:
    for n in range(1, 6):
        project.add(f"{n:04d}_t{n}", expand=f"CREATE TABLE t{n} (id int);")
    report = advance(project.config(), all_migrations=True, to=Phase.CONTRACT, yes=True)
    assert len(report.runs) == 25  # five phases each, four of them empty
    after = status(project.config())
    assert after.drifted == [] and {r.state.value for r in after.migrations} == {"contract"}
    assert all(len(r.phases) == 5 for r in after.migrations)
    events = project.query(
        "SELECT phase, outcome, detail FROM expandctl.events WHERE migration_id = '0003_t3' "
        "AND action = 'phase' ORDER BY id"
    )
    assert events[2:4] == [("backfill", "started", "0 steps"), ("backfill", "ok", "0 steps run")]
    assert len(events) == 10
    # Nothing left to do: the next run changes nothing.
    assert advance(project.config(), all_migrations=True).runs == []
