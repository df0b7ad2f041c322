"""Fixtures: PgBouncer in transaction and in session mode, in front of the server under test.

One PgBouncer per mode per session, started on first use. Each test still gets
its own fresh database (``pg_database``); ``Bouncer.database`` reaches it
through the pooler. The tests skip, with the reason, when PgBouncer is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PgDatabase
from tests.engine.conftest import Project
from tests.pg_provider import Server
from tests.pooler.bouncer import Bouncer, NoBouncer, pgbouncer

# Small on purpose: two server connections shared by every client of a database.
TRANSACTION_POOL_SIZE = 2
# A run holds the lock and work connections, and a backfill opens three more.
SESSION_POOL_SIZE = 10


def _start(
    server: Server, pool_mode: str, pool_size: int, *, round_robin: bool = False
) -> Iterator[Bouncer]:
    try:
        with pgbouncer(
            server, pool_mode=pool_mode, pool_size=pool_size, round_robin=round_robin
        ) as bouncer:
            yield bouncer
    except NoBouncer as exc:
        pytest.skip(f"no PgBouncer for the pooler tests: {exc}")


@pytest.fixture(scope="session")
def transaction_bouncer(pg_server: Server) -> Iterator[Bouncer]:
    yield from _start(pg_server, "transaction", TRANSACTION_POOL_SIZE)


@pytest.fixture(scope="session")
def round_robin_bouncer(pg_server: Server) -> Iterator[Bouncer]:
    """Transaction mode, idle server connections handed out oldest first."""
    yield from _start(pg_server, "transaction", TRANSACTION_POOL_SIZE, round_robin=True)


@pytest.fixture(scope="session")
def session_bouncer(pg_server: Server) -> Iterator[Bouncer]:
    yield from _start(pg_server, "session", SESSION_POOL_SIZE)


@pytest.fixture
def transaction_pooled(transaction_bouncer: Bouncer, pg_database: PgDatabase) -> PgDatabase:
    return transaction_bouncer.database(pg_database)


@pytest.fixture
def session_pooled(session_bouncer: Bouncer, pg_database: PgDatabase) -> PgDatabase:
    return session_bouncer.database(pg_database)


@pytest.fixture
def direct_project(tmp_path: Path, pg_database: PgDatabase) -> Project:
    (tmp_path / "migrations").mkdir()
    return Project(root=tmp_path, db=pg_database, overrides={})
