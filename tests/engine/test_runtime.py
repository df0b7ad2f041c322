"""expandctl.runtime: application code reads the phase like a feature flag."""

from __future__ import annotations

import psycopg
import pytest

from expandctl import runtime
from expandctl.commands.advance import advance
from expandctl.model.phases import Phase, State
from tests.engine.conftest import Project

pytestmark = pytest.mark.db


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_phase_follows_advance_within_the_ttl(project: Project) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);")
    clock = FakeClock()
    reader = runtime.PhaseReader(ttl=5, clock=clock)
    with psycopg.connect(project.db.dsn, autocommit=True) as conn:
        assert reader.phase(conn, "0001_t") is State.PENDING  # no state schema yet
        advance(project.config(), to=Phase.SWITCH_READS)
        assert reader.phase(conn, "0001_t") is State.PENDING  # cached
        clock.now += 5.1
        assert reader.phase(conn, "0001_t") is State.SWITCH_READS
        assert reader.reads_new(conn, "0001_t") and not reader.writes_new(conn, "0001_t")
        advance(project.config())
        reader.invalidate()
        assert reader.writes_new(conn, "0001_t")
        assert reader.phase(conn, "0009_unknown") is State.PENDING


def test_lookup_leaves_no_transaction_open_and_respects_the_callers(project: Project) -> None:
    project.add("0001_t", expand="CREATE TABLE t (id int);")
    advance(project.config())
    with psycopg.connect(project.db.dsn) as conn:  # not autocommit
        assert runtime.PhaseReader().phase(conn, "0001_t") is State.EXPAND
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        conn.execute("INSERT INTO t VALUES (1)")
        assert runtime.PhaseReader(schema="nowhere").phase(conn, "0001_t") is State.PENDING
        conn.commit()  # the caller's transaction survived the lookups
    assert project.one("SELECT count(*) FROM t") == 1


def test_module_level_functions_use_the_configured_schema(project: Project) -> None:
    project.add("0001_t", expand="SELECT 1;")
    advance(project.config(state_schema="deploys"))
    with psycopg.connect(project.db.dsn, autocommit=True) as conn:
        runtime.configure(schema="deploys", ttl=0)
        try:
            assert runtime.phase(conn, "0001_t") is State.EXPAND
            assert not runtime.reads_new(conn, "0001_t")
        finally:
            runtime.configure()


def test_a_role_without_access_gets_a_clear_error_and_keeps_its_transaction(
    project: Project,
) -> None:
    from expandctl.errors import ConfigError

    project.add("0001_t", expand="CREATE TABLE t (id int);")
    advance(project.config())
    role = f"app_{project.db.name}"[:63]  # roles are cluster-wide: one per test database
    project.query(f'CREATE ROLE "{role}"')
    try:
        project.query(f'GRANT ALL ON TABLE t TO "{role}"')
        with psycopg.connect(project.db.dsn) as conn:
            conn.execute(f'SET ROLE "{role}"')
            conn.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(ConfigError, match="may not read expandctl's state") as info:
                runtime.PhaseReader().phase(conn, "0001_t")
            assert "GRANT USAGE ON SCHEMA" in (info.value.hint or "")
            conn.execute("INSERT INTO t VALUES (2)")  # the transaction is still usable
            conn.commit()
        assert project.one("SELECT count(*) FROM t") == 2
    finally:
        project.query(f'DROP OWNED BY "{role}"')
        project.query(f'DROP ROLE "{role}"')
