"""index_timeout bounds CONCURRENTLY index steps; every other step keeps statement_timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from expandctl.commands.advance import advance
from expandctl.engine.runner import is_concurrent_index_step
from expandctl.errors import DatabaseError
from expandctl.model.planning import sql_steps
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

# Ten rows whose index key takes 0.1 s each: building (or ANALYZE-ing) an index on
# slow_key(id) takes at least a second however idle the server, far past 300ms.
SLOW_TABLE = """
CREATE FUNCTION slow_key(v int) RETURNS int IMMUTABLE LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_sleep(0.1); RETURN v; END $$;
CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 10) g;
"""
SLOW_BUILD = "CREATE INDEX CONCURRENTLY items_slow_idx ON items (slow_key(id));\n"
VALID = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_slow_idx'::regclass"
SHORT = timedelta(milliseconds=300)


def test_a_concurrent_build_runs_under_index_timeout_not_statement_timeout(
    project: Project,
) -> None:
    project.query(SLOW_TABLE)
    project.add(
        "0001_items",
        expand=SLOW_BUILD
        + "CREATE TABLE seen AS SELECT current_setting('statement_timeout') AS value;\n",
    )
    advance(project.config(statement_timeout=SHORT))  # index_timeout: default, no limit
    assert project.one(VALID) is True
    assert project.one("SELECT value FROM seen") == "300ms"  # the next step's limit
    assert project.state("0001_items") == "expand"


def test_an_autocommit_step_after_an_index_build_is_bounded_by_statement_timeout_again(
    project: Project,
) -> None:
    project.query(SLOW_TABLE)
    # VACUUM runs in autocommit too; ANALYZE evaluates slow_key for every sampled row.
    project.add("0001_items", expand=SLOW_BUILD + "VACUUM (ANALYZE) items;\n")
    config = project.config(statement_timeout=SHORT, index_timeout=timedelta(hours=1))
    with pytest.raises(DatabaseError, match=r"step 2/2 .*statement timeout") as info:
        advance(config)
    assert project.one(VALID) is True
    assert "statement_timeout (300ms): raise it" in (info.value.hint or "")
    assert (info.value.hint or "").startswith("steps before 2 are recorded done")


def test_a_build_longer_than_index_timeout_fails_and_the_next_advance_rebuilds_it(
    project: Project, warnings: list[str]
) -> None:
    project.query(SLOW_TABLE)
    project.add("0001_items", expand=SLOW_BUILD)
    with pytest.raises(DatabaseError, match="statement timeout") as info:
        advance(project.config(index_timeout=SHORT))  # statement_timeout: default 10min
    assert "index_timeout (300ms): raise it" in (info.value.hint or "")
    assert project.one(VALID) is False  # PostgreSQL leaves the INVALID index behind
    assert project.state("0001_items") == "pending"

    report = advance(project.config())
    assert project.one(VALID) is True
    assert report.runs[0].steps_run == 1
    assert project.state("0001_items") == "expand"
    assert any("dropping INVALID index public.items_slow_idx" in line for line in warnings)


def test_an_ordinary_index_build_keeps_statement_timeout(project: Project) -> None:
    project.query(SLOW_TABLE)
    project.add("0001_items", expand="CREATE INDEX items_slow_idx ON items (slow_key(id));\n")
    with pytest.raises(DatabaseError, match="statement timeout") as info:
        # the lint gate would refuse the blocking build: accept it, this test times it out
        advance(project.config(statement_timeout=SHORT), accept_risk="statement_timeout test")
    assert "statement_timeout (300ms)" in (info.value.hint or "")
    assert project.one("SELECT to_regclass('items_slow_idx')") is None  # rolled back


@pytest.mark.parametrize(
    ("statement", "index_step"),
    [
        ("CREATE INDEX CONCURRENTLY a_idx ON a (x)", True),
        ("create unique index concurrently if not exists s.a_idx on s.a (x)", True),
        ("CREATE INDEX CONCURRENTLY ON a (x)", True),  # unnamed
        ("DROP INDEX CONCURRENTLY IF EXISTS a_idx", True),
        ("REINDEX INDEX CONCURRENTLY a_idx", True),
        ("/* why */ REINDEX (VERBOSE) TABLE CONCURRENTLY a", True),
        ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", False),
        ("VACUUM a", False),
        ("CREATE INDEX a_idx ON a (x)", False),
    ],
)
def test_which_steps_count_as_concurrent_index_steps(statement: str, index_step: bool) -> None:
    (step,) = sql_steps(statement + ";\n", source="expand.sql", server_version=15)
    assert is_concurrent_index_step(step) is index_step
