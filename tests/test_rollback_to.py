"""``rollback --to STATE``: phase after phase, each checked as a single rollback; the first
refusal stops it with what was rolled back listed; answering no changes nothing."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.errors import ConfirmationNeeded, Declined
from expandctl.model.phases import Phase, State
from tests.conftest import PROJECT_ROOT, PgDatabase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

FULL = {
    "expand": "CREATE TABLE t (id int PRIMARY KEY, a text);",
    "expand_down": "DROP TABLE t;",
    "switch_reads": "CREATE VIEW v AS SELECT id FROM t;",
    "switch_reads_down": "DROP VIEW v;",
    "switch_writes": "ALTER TABLE t ADD COLUMN b text;",
    "switch_writes_down": "ALTER TABLE t DROP COLUMN b;",
}


@pytest.fixture
def project(tmp_path: Path, pg_database: PgDatabase) -> Project:
    (tmp_path / "migrations").mkdir()
    return Project(root=tmp_path, db=pg_database, overrides={})


def _events(project: Project) -> list[tuple[str, str, str]]:
    return [
        (phase, direction, outcome)
        for phase, direction, outcome in project.query(
            "SELECT phase, direction, outcome FROM expandctl.events"
            " WHERE action = 'phase' ORDER BY id"
        )
    ]


def test_rollback_to_pending_undoes_every_phase_in_order(project: Project) -> None:
    project.add("0001_t", **FULL)
    advance(project.config(), "0001_t", to=Phase.SWITCH_WRITES)
    before = len(_events(project))

    result = project.cli("rollback", "0001_t", "--to", "pending", "--yes")

    assert result.exit_code == 0, result.output
    shown = [line for line in result.output.splitlines() if line.startswith("0001_t: ")]
    assert [line.split(" (")[0] for line in shown] == [
        "0001_t: switch-writes rolled back",
        "0001_t: switch-reads rolled back",
        "0001_t: backfill rolled back",
        "0001_t: expand rolled back",
    ]
    assert project.state("0001_t") == "pending"
    assert project.one("SELECT to_regclass('t')") is None
    rolled = [e for e in _events(project)[before:] if e[2] == "ok"]
    assert rolled == [
        ("switch-writes", "rollback", "ok"),
        ("switch-reads", "rollback", "ok"),
        ("backfill", "rollback", "ok"),
        ("expand", "rollback", "ok"),
    ]
    # forward again: nothing was left half-undone
    advance(project.config(), "0001_t", to=Phase.SWITCH_WRITES)
    assert project.one("SELECT count(*) FROM v") == 0


def test_rollback_to_a_phase_stops_there(project: Project) -> None:
    project.add("0001_t", **FULL)
    advance(project.config(), "0001_t", to=Phase.SWITCH_WRITES)
    report = rollback(project.config(), "0001_t", to=State.BACKFILL, yes=True)
    assert [r.phase for r in report.runs] == ["switch-writes", "switch-reads"]
    assert report.stopped is None
    assert project.state("0001_t") == "backfill"
    assert project.one("SELECT to_regclass('v')") is None
    assert project.one("SELECT to_regclass('t') IS NOT NULL")


def test_rollback_to_stops_at_the_first_refusal_and_says_what_ran(project: Project) -> None:
    files = dict(FULL)
    files["switch_reads_down"] = "-- TODO\n"  # there, but says nothing
    project.add("0001_t", **files)
    advance(project.config(), "0001_t", to=Phase.SWITCH_WRITES)

    result = project.cli("rollback", "0001_t", "--to", "pending", "--yes")

    assert result.exit_code == 4, result.output
    lines = [
        line for line in result.output.splitlines() if line.startswith(("0001_t: ", "stopped"))
    ]
    assert lines[0].startswith("0001_t: switch-writes rolled back (1/1 step, ")
    assert lines[1].startswith("stopped at 0001_t (refused) after 1 phase: ")
    # the empty .down file is named as empty, not as missing
    assert "no reverse steps for switch-reads of 0001_t" in lines[1]
    assert "switch-reads.down.sql" in lines[1] and "exists but has no SQL statement" in lines[1]
    assert "add switch-reads.down.sql" not in result.output
    assert project.state("0001_t") == "switch-reads"  # the one before the refusal is undone
    assert project.one("SELECT to_regclass('v') IS NOT NULL")


def test_rollback_to_a_contracted_migration_refuses_with_nothing_run(project: Project) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);", expand_down="DROP TABLE t;")
    advance(project.config(), "0001_t", to=Phase.CONTRACT, yes=True)
    result = project.cli("rollback", "0001_t", "--to", "pending", "--yes")
    assert result.exit_code == 4
    assert "stopped at 0001_t (refused) after 0 phases: 0001_t is contracted" in result.output
    assert project.state("0001_t") == "contract"


def test_rollback_to_where_it_already_is_is_nothing_to_do(project: Project) -> None:
    project.add("0001_t", **FULL)
    advance(project.config(), "0001_t")
    result = project.cli("rollback", "0001_t", "--to", "expand", "--yes")
    assert result.exit_code == 0 and "0001_t is already at expand" in result.output
    assert project.cli("rollback", "0001_t", "--to", "contract").exit_code == 2


def test_rollback_to_asks_once_and_a_no_changes_nothing(project: Project) -> None:
    project.add("0001_t", **FULL)
    advance(project.config(), "0001_t", to=Phase.SWITCH_WRITES)
    with pytest.raises(ConfirmationNeeded):  # no terminal, no --yes
        rollback(project.config(), "0001_t", to=State.PENDING)
    with pytest.raises(Declined):
        rollback(project.config(), "0001_t", to=State.PENDING, confirm=lambda q: False)
    assert project.state("0001_t") == "switch-writes"
    asked: list[str] = []
    rollback(
        project.config(), "0001_t", to=State.PENDING, confirm=lambda q: asked.append(q) or True
    )
    assert len(asked) == 1
    assert "4 phases (switch-writes, switch-reads, backfill, expand)" in asked[0]
    assert project.state("0001_t") == "pending"


def test_answering_no_on_a_terminal_prints_aborted_and_exits_5(project: Project) -> None:
    """A real terminal (a pty): the prompt is answered 'n'."""
    project.add("0001_t", **FULL)
    advance(project.config(), "0001_t")
    config = project.write_config()
    leader, follower = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.Popen(
        [
            *(sys.executable, "-m", "expandctl", "--config", str(config)),
            *("--database-url", project.db.url, "rollback", "0001_t"),
        ],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    os.close(follower)
    os.write(leader, b"n\n")
    out, err = done.communicate(timeout=60)
    os.close(leader)
    assert done.returncode == 5, (out, err)
    assert "roll back expand of 0001_t (1 step)?" in err
    assert err.rstrip().endswith("aborted: nothing changed")
    assert "error" not in err
    assert project.state("0001_t") == "expand"
    assert project.one("SELECT to_regclass('t') IS NOT NULL")
