"""The simulated clients themselves: they must notice lost writes and stale reads."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest

from expandctl.engine.workload.clients import AppShape, Client, Timeline, Workload, verify_rows
from tests.conftest import PgDatabase
from tests.operations.schema import create_schema

pytestmark = pytest.mark.db


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the clients made no progress"
        time.sleep(0.01)


SHAPE = AppShape(
    "old", "users", ("name",), lambda n: (f"Name {n}",), {"email": lambda n: f"w{n}@example.com"}
)


def test_a_client_records_a_stale_read(pg_database: PgDatabase) -> None:
    create_schema(pg_database.dsn)
    client = Client(pg_database.dsn, SHAPE, "old-1", Timeline())
    client.request("insert")
    (key,) = client.written
    with pg_database.connect(autocommit=True) as conn:
        conn.execute("UPDATE users SET name = 'someone else' WHERE id = %s", (key,))
    client.request("select")
    assert client.requests == 2
    assert [e.action for e in client.errors] == ["select"]
    assert "stale read" in client.errors[0].message


def test_a_client_records_statement_errors_with_the_window(pg_database: PgDatabase) -> None:
    create_schema(pg_database.dsn)
    timeline = Timeline()
    client = Client(pg_database.dsn, SHAPE, "old-1", timeline)
    with pg_database.connect(autocommit=True) as conn:
        conn.execute("ALTER TABLE users RENAME COLUMN name TO full_name")
    timeline.set("after the rename")
    client.request("insert")
    assert [(e.window, e.action) for e in client.errors] == [("after the rename", "insert")]


def test_verify_rows_reports_missing_and_changed_rows(pg_database: PgDatabase) -> None:
    create_schema(pg_database.dsn)
    with psycopg.connect(pg_database.dsn) as conn:
        problems = verify_rows(conn, SHAPE, {1: ("First1 Last1",), 2: ("wrong",), 99999: ("x",)})
    assert len(problems) == 2
    assert any("99999 is missing" in p for p in problems)


def test_workload_runs_only_enabled_versions(pg_database: PgDatabase) -> None:
    create_schema(pg_database.dsn)
    new_shape = AppShape("new", "users", ("name",), lambda n: (f"N {n}",), SHAPE.insert_only)
    with Workload(pg_database.dsn, [SHAPE, new_shape], clients_per_version=1) as workload:
        workload.enable("old")
        wait_for(lambda: workload.requests("old") >= 20)
        workload.disable("old")
        assert workload.requests("new") == 0
        settled = workload.requests("old")
        workload.enable("new")
        wait_for(lambda: workload.requests("new") >= 5)
        workload.disable("new")
    assert workload.requests("old") == settled
    assert workload.errors() == []
