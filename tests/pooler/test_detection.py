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


@pytest.fixture
def login_role_that_sets_role(pg_database: PgDatabase) -> Iterator[str]:
    """A common migration setup: a login role whose sessions SET ROLE to the owner,
    and (a second case in one) statistics collection turned off for it."""
    import secrets as tokens

    from psycopg.conninfo import make_conninfo

    suffix = tokens.token_hex(4)
    login, owner = f"probe_login_{suffix}", f"probe_owner_{suffix}"
    with psycopg.connect(pg_database.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {owner}")
        admin.execute(f"CREATE ROLE {login} LOGIN IN ROLE {owner}")
        admin.execute(f"ALTER ROLE {login} SET role = {owner}")
    try:
        yield make_conninfo(pg_database.dsn, user=login)
    finally:
        with psycopg.connect(pg_database.dsn, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {login}")
            admin.execute(f"DROP ROLE {owner}")


def test_direct_connections_of_a_role_that_sets_role_are_not_taken_for_a_pooler(
    pg_database: PgDatabase, login_role_that_sets_role: str
) -> None:
    from psycopg.conninfo import conninfo_to_dict

    login = str(conninfo_to_dict(login_role_that_sets_role)["user"])
    url = login_role_that_sets_role  # key=value conninfo: also a socket directory as host

    def probe() -> tuple[object, object, str | None]:
        with (
            connect_url(url, autocommit=True) as control,
            connect_url(url, autocommit=True) as work,
        ):
            row = control.execute(
                "SELECT current_user, (SELECT state FROM pg_stat_activity"
                " WHERE pid = pg_backend_pid())"
            ).fetchone()
            assert row is not None
            return row[0], row[1], shares_server_sessions(control, work)

    # Its own session is listed under the login role: the owner sees no state or query.
    owner, state, seen = probe()
    assert (owner != login, state, seen) == (True, None, None)
    # Statistics off for the role: every session's state reads 'disabled'.
    with psycopg.connect(pg_database.dsn, autocommit=True) as admin:
        admin.execute(f"ALTER ROLE {login} RESET role")
        admin.execute(f"ALTER ROLE {login} SET track_activities = off")
    assert probe() == (login, "disabled", None)
