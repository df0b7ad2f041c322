"""Gates from [gates.<phase>]: checked before a phase starts; a failed gate changes nothing."""

from __future__ import annotations

import pytest

from expandctl.commands.advance import advance
from expandctl.errors import StateError
from tests.engine.conftest import Project

pytestmark = pytest.mark.db


def test_min_soak_holds_the_next_phase_back(project: Project) -> None:
    project.add(
        "0001_t", expand="CREATE TABLE t (id int);", manifest='[gates.backfill]\nmin_soak = "1h"\n'
    )
    advance(project.config())
    with pytest.raises(
        StateError,
        # seconds vary with the machine's load between the two advances
        match=r"gate min_soak for backfill of 0001_t does not hold: "
        r"expand finished \d+s ago, needs 1h \(59min \d+s to go\)",
    ):
        advance(project.config())
    assert project.state("0001_t") == "expand"
    # Pretend the expand finished two hours ago: now the soak is over.
    project.query(
        "UPDATE expandctl.migrations SET phases = jsonb_set(phases, '{expand,finished_at}', "
        "to_jsonb(now() - interval '2 hours'))"
    )
    advance(project.config())
    assert project.state("0001_t") == "backfill"


def test_sql_gate_shows_its_query_when_it_is_not_true(project: Project) -> None:
    project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);",
        manifest="[gates.expand]\n"
        "sql = \"SELECT count(*) = 0 FROM pg_tables WHERE tablename = 'legacy'\"\n",
    )
    project.query("CREATE TABLE legacy (id int)")
    with pytest.raises(StateError) as info:
        advance(project.config())
    message = str(info.value)
    assert "gate sql for expand of 0001_t" in message
    assert "returned False" in message and "tablename = 'legacy'" in message
    assert project.one("SELECT to_regclass('t')") is None
    project.query("DROP TABLE legacy")
    advance(project.config())
    assert project.state("0001_t") == "expand"


def test_a_failing_gate_query_is_a_refusal_not_a_crash(project: Project) -> None:
    project.add("0001_t", expand="SELECT 1;", manifest='[gates.expand]\nsql = "SELECT nope"\n')
    with pytest.raises(StateError, match=r'the query failed .*column "nope" does not exist'):
        advance(project.config())


def test_gate_queries_run_read_only(project: Project) -> None:
    project.query("CREATE SEQUENCE s")
    project.add(
        "0001_t", expand="SELECT 1;", manifest="[gates.expand]\nsql = \"SELECT nextval('s') > 0\"\n"
    )
    with pytest.raises(StateError, match="read-only"):
        advance(project.config())
