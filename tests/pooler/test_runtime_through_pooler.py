"""Application pods read a migration's phase through PgBouncer in transaction mode."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from expandctl.model.phases import State
from expandctl.runtime import PhaseReader
from tests.conftest import PgDatabase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

MID = "0001_nickname"
CLIENTS = 8
ORDER = [State.PENDING, State.EXPAND, State.BACKFILL, State.SWITCH_READS]


def _migration(project: Project) -> None:
    project.query("CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)")
    project.query("INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 300) g")
    project.add(
        MID,
        manifest="""
        [backfill]
        table = "users"
        set = { nickname = "name" }
        where = "nickname IS NULL"
        batch_size = 50
        """,
        expand="ALTER TABLE users ADD COLUMN nickname text;\n",
        expand_down="ALTER TABLE users DROP COLUMN nickname;\n",
    )


def _clients(
    db: PgDatabase, read: Callable[[psycopg.Connection[Any]], State], stop: threading.Event
) -> tuple[list[threading.Thread], list[list[State]], list[BaseException]]:
    """CLIENTS threads, each with its own pooled connection as an application opens it
    (psycopg's defaults: prepare_threshold 5), half of them outside autocommit."""
    seen: list[list[State]] = [[] for _ in range(CLIENTS)]
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with psycopg.connect(db.dsn, autocommit=n % 2 == 0) as conn:
                while True:
                    last = stop.is_set()
                    seen[n].append(read(conn))
                    if last:
                        return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads, seen, errors


def test_phase_is_read_correctly_by_many_clients_while_advance_runs(
    direct_project: Project, transaction_pooled: PgDatabase
) -> None:
    _migration(direct_project)
    reader = PhaseReader(ttl=0)  # every call reads the table: a query per call
    stop = threading.Event()
    threads, seen, errors = _clients(transaction_pooled, lambda conn: reader.phase(conn, MID), stop)
    try:
        for phase in ("expand", "backfill", "switch-reads"):
            # advance goes to the server directly (the pooled URL is refused, see test_advance)
            result = direct_project.cli("advance", MID, "--to", phase)
            assert result.exit_code == 0, result.output
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert errors == []
    for reads in seen:
        assert len(reads) > 10
        # each client saw the phases in order (never an older one after a newer one)
        assert [ORDER.index(s) for s in reads] == sorted(ORDER.index(s) for s in reads)
        assert reads[-1] is State.SWITCH_READS  # read after the last advance finished


def _naive_phase(schema: str, migration_id: str) -> Callable[[psycopg.Connection[Any]], State]:
    """What the lookup did before: psycopg prepares it after five runs on a connection."""
    query = sql.SQL("SELECT state FROM {}.migrations WHERE id = %s").format(sql.Identifier(schema))

    def read(conn: psycopg.Connection[Any]) -> State:
        row = conn.execute(query, (migration_id,)).fetchone()
        if not conn.autocommit:
            conn.rollback()
        return State(row[0]) if row else State.PENDING

    return read


def test_negative_control_a_prepared_lookup_breaks_behind_the_pooler(
    direct_project: Project, transaction_pooled: PgDatabase
) -> None:
    """The same clients with a lookup that lets psycopg prepare it: server connections
    that never saw the PREPARE are asked to run it. This is what prepare=False avoids."""
    _migration(direct_project)
    assert direct_project.cli("advance", MID, "--to", "expand").exit_code == 0
    stop = threading.Event()
    threads, _seen, errors = _clients(transaction_pooled, _naive_phase("expandctl", MID), stop)
    try:
        stop.wait(2.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert errors, "the naive lookup should fail behind a transaction pooler"
    assert all("prepared statement" in str(e) for e in errors), errors
