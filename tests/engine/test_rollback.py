"""rollback: undoes the last completed phase with its .down.sql, or says why it cannot."""

from __future__ import annotations

import pytest

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.errors import StateError
from expandctl.model.phases import Phase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db


def test_rollback_runs_the_down_file_and_forgets_the_phase(project: Project) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);", expand_down="DROP TABLE t;")
    advance(project.config())
    report = rollback(project.config(), "0001_t", yes=True)
    assert [(r.phase, r.direction, r.steps_run) for r in report.runs] == [("expand", "rollback", 1)]
    assert project.one("SELECT to_regclass('t')") is None
    assert project.state("0001_t") == "pending"
    assert project.one("SELECT phases FROM expandctl.migrations") == {}
    # and forward again works: rollback is not a dead end
    advance(project.config())
    assert project.state("0001_t") == "expand"


def test_rollback_undoes_only_the_last_completed_phase(project: Project) -> None:
    project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);",
        expand_down="DROP TABLE t;",
        switch_reads="CREATE VIEW v AS SELECT id FROM t;",
        switch_reads_down="DROP VIEW v;",
    )
    advance(project.config(), to=Phase.SWITCH_READS)
    rollback(project.config(), "0001_t", yes=True)
    assert project.state("0001_t") == "backfill"
    assert project.one("SELECT to_regclass('v')") is None
    assert project.one("SELECT to_regclass('t') IS NOT NULL")
    rollback(project.config(), "0001_t", yes=True)  # backfill: no SQL, state only
    assert project.state("0001_t") == "expand"


def test_rollback_without_reverse_steps_refuses(project: Project) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);")
    advance(project.config())
    with pytest.raises(
        StateError, match=r"no reverse steps for expand of 0001_t: add expand\.down"
    ):
        rollback(project.config(), "0001_t", yes=True)
    assert project.state("0001_t") == "expand"


def test_rollback_needs_confirmation(project: Project) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);", expand_down="DROP TABLE t;")
    advance(project.config())
    with pytest.raises(StateError, match="needs confirmation"):
        rollback(project.config(), "0001_t")
    assert project.one("SELECT to_regclass('t') IS NOT NULL")
    rollback(project.config(), "0001_t", confirm=lambda q: "roll back expand" in q)
    assert project.state("0001_t") == "pending"


def test_rollback_of_a_pending_migration_has_nothing_to_do(project: Project) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);", expand_down="DROP TABLE t;")
    report = rollback(project.config(), "0001_t", yes=True)
    assert report.runs == [] and "nothing to roll back" in report.messages[0]


def test_rollback_refuses_while_a_dependent_migration_is_expanded(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);", expand_down="DROP TABLE a;")
    project.add(
        "0002_b",
        expand="CREATE TABLE b (id int);",
        expand_down="DROP TABLE b;",
        manifest='requires = ["0001_a"]\n',
    )
    advance(project.config(), all_migrations=True)
    with pytest.raises(StateError, match="0002_b requires 0001_a and is expand"):
        rollback(project.config(), "0001_a", yes=True)
    rollback(project.config(), "0002_b", yes=True)
    rollback(project.config(), "0001_a", yes=True)
    assert project.state("0001_a") == "pending"


def test_advance_refuses_while_a_rollback_is_interrupted(project: Project) -> None:
    project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);",
        expand_down="CREATE INDEX CONCURRENTLY t_i ON t (id);\nSELECT 1 / count(*) FROM flag;\n"
        "DROP TABLE t;",
    )
    project.query("CREATE TABLE flag (id int)")
    advance(project.config())
    with pytest.raises(Exception, match="division by zero"):
        rollback(project.config(), "0001_t", yes=True)
    with pytest.raises(StateError, match="in the middle of rolling back expand") as info:
        advance(project.config())
    assert info.value.hint == "finish it first: expandctl rollback 0001_t"
    project.query("INSERT INTO flag VALUES (1)")
    report = rollback(project.config(), "0001_t")  # resuming needs no new confirmation
    assert report.runs[0].resumed_from == 1
    assert project.state("0001_t") == "pending"


def test_rollback_refuses_while_a_forward_phase_is_interrupted(project: Project) -> None:
    project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n"
        "SELECT 1 / count(*) FROM flag;",
        expand_down="DROP TABLE t;",
    )
    project.query("CREATE TABLE flag (id int)")
    with pytest.raises(Exception, match="division by zero"):
        advance(project.config())
    with pytest.raises(StateError, match=r"in the middle of expand \(2 of 3 steps done\)"):
        rollback(project.config(), "0001_t", yes=True)


def test_an_interrupted_rollback_resumes_with_its_failed_step_fixed(project: Project) -> None:
    from expandctl.errors import DatabaseError

    folder = project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n",
        expand_down="DROP INDEX CONCURRENTLY t_i;\nDROP TABLE tt;\n",
    )
    advance(project.config())
    with pytest.raises(DatabaseError, match=r"step 2/2 \(expand.down.sql:2\)"):
        # dropping a table the migration did not create is a lint error: accept it to fail later
        rollback(project.config(), "0001_t", yes=True, accept_risk="fails on purpose")
    assert project.one("SELECT to_regclass('t_i')") is None  # step 1 is done
    (folder / "expand.down.sql").write_text("DROP INDEX CONCURRENTLY t_i;\nDROP TABLE t;\n")
    report = rollback(project.config(), "0001_t")  # a resume needs no confirmation
    assert (report.runs[0].resumed_from, report.runs[0].steps_run) == (1, 1)
    assert project.one("SELECT to_regclass('t')") is None
    assert project.state("0001_t") == "pending"
    # A step that already ran may not change under a resume.
    advance(project.config())
    (folder / "expand.down.sql").write_text("DROP INDEX CONCURRENTLY t_i;\nDROP TABLE tt;\n")
    with pytest.raises(DatabaseError):
        rollback(project.config(), "0001_t", yes=True, accept_risk="fails on purpose")
    (folder / "expand.down.sql").write_text("DROP INDEX CONCURRENTLY IF EXISTS t_i;\n")
    with pytest.raises(StateError, match=r"drift: step 1 \(expand.down.sql:1\)"):
        rollback(project.config(), "0001_t")
