"""Telling a transaction pooler from a server session of our own, on a real PgBouncer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from expandctl.engine.connection import connect_url
from expandctl.engine.pooler import shares_server_sessions
from tests.conftest import PgDatabase
from tests.pooler.bouncer import Bouncer

pytestmark = pytest.mark.db

ROUNDS = 20


def _probe(db: PgDatabase) -> str | None:
    with (
        connect_url(db.url, autocommit=True) as control,
        connect_url(db.url, autocommit=True) as work,
    ):
        return shares_server_sessions(control, work)


@pytest.fixture
def busy_clients(transaction_pooled: PgDatabase) -> Iterator[list[BaseException]]:
    """Four clients running short transactions through the pool the whole time."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with psycopg.connect(transaction_pooled.dsn, autocommit=True) as conn:
                while not stop.is_set():
                    conn.execute("SELECT pg_backend_pid(), pg_sleep(0.002)", prepare=False)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        yield errors
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)


def test_direct_connections_own_their_sessions(pg_database: PgDatabase) -> None:
    assert [_probe(pg_database) for _ in range(ROUNDS)] == [None] * ROUNDS


def test_session_pooling_keeps_a_client_on_one_session(session_pooled: PgDatabase) -> None:
    assert [_probe(session_pooled) for _ in range(ROUNDS)] == [None] * ROUNDS


def test_transaction_pooling_is_seen_every_time(transaction_pooled: PgDatabase) -> None:
    seen = [_probe(transaction_pooled) for _ in range(ROUNDS)]
    assert all(seen), seen


def test_transaction_pooling_is_seen_while_other_clients_use_the_pool(
    transaction_pooled: PgDatabase, busy_clients: list[BaseException]
) -> None:
    seen = [_probe(transaction_pooled) for _ in range(ROUNDS)]
    assert not busy_clients
    assert all(seen), seen


def test_transaction_pooling_is_seen_when_idle_connections_go_round_robin(
    round_robin_bouncer: Bouncer, pg_database: PgDatabase
) -> None:
    """Oldest idle connection first: work never gets control's session on an idle pool."""
    pooled = round_robin_bouncer.database(pg_database)
    _probe(pooled)  # two server connections exist from now on
    seen = [_probe(pooled) for _ in range(ROUNDS)]
    assert all(seen), seen
