"""Fixtures: a streaming hot standby of a dedicated primary, and a project on that primary.

The pair uses the binaries of the server version the pass runs against
(``EXPANDCTL_TEST_BACKEND``: the machine's PostgreSQL for ``dsn``, the wheel's
for ``embedded``), so ``.ci/run`` exercises a real standby on both majors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PgDatabase
from tests.engine.conftest import Project
from tests.pg_provider import Server, fresh_database
from tests.standby.cluster import (
    NoStandby,
    StandbyPair,
    bin_dir_for,
    server_user,
    standby_pair,
)


@pytest.fixture(scope="session")
def standby(pg_server: Server) -> Iterator[StandbyPair]:
    """A primary and its streaming standby, of the major version under test (one per session)."""
    try:
        bin_dir = bin_dir_for(pg_server.backend, pg_server.version)
        server_user()
    except NoStandby as exc:
        pytest.skip(f"no streaming standby for PostgreSQL {pg_server.version}: {exc}")
    with standby_pair(bin_dir, pg_server.version) as pair:
        yield pair


@pytest.fixture
def primary_database(standby: StandbyPair) -> Iterator[PgDatabase]:
    """A fresh database on the standby's primary; replay runs again afterwards."""
    server = Server("standby-primary", standby.primary.dsn(), version=standby.version)
    try:
        with fresh_database(server) as name:
            yield PgDatabase(name, server.dsn_for(name), server.url_for(name), server)
    finally:
        standby.resume_replay()  # a failed test must not leave the next one a paused standby


@pytest.fixture
def primary_project(tmp_path: Path, primary_database: PgDatabase) -> Project:
    (tmp_path / "migrations").mkdir()
    return Project(root=tmp_path, db=primary_database, overrides={})
