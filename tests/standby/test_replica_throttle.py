"""The replica throttle alone, on a real primary and standby: what it sees, and as whom."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from expandctl.engine.backfill.throttle import ReplicaThrottle
from tests.conftest import PgDatabase
from tests.standby.cluster import STANDBY_NAME, StandbyPair

pytestmark = pytest.mark.db

ROLE = "lag_blind"


@pytest.fixture
def throttle_logs() -> Iterator[list[str]]:
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("expandctl.engine.backfill.throttle")
    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def role_without_pg_monitor(primary_database: PgDatabase) -> Iterator[str]:
    with psycopg.connect(primary_database.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {ROLE} LOGIN")
    try:
        yield make_conninfo(primary_database.dsn, user=ROLE)
    finally:
        with psycopg.connect(primary_database.dsn, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {ROLE}")


def _write(db: PgDatabase) -> None:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS wal_maker (n int)")
        conn.execute("INSERT INTO wal_maker SELECT generate_series(1, 2000)")


def test_without_pg_monitor_it_warns_once_and_with_it_it_waits(
    primary_database: PgDatabase,
    standby: StandbyPair,
    role_without_pg_monitor: str,
    throttle_logs: list[str],
) -> None:
    standby.wait_caught_up()
    standby.pause_replay()
    blind = ReplicaThrottle(max_lag=timedelta(seconds=1))
    with psycopg.connect(role_without_pg_monitor, autocommit=True) as conn:
        for _ in range(3):
            _write(primary_database)
            assert blind.wait_reason(conn) is None  # it cannot see the standby's position
    [warning] = throttle_logs
    assert "1 standby(s) connected but their positions are hidden" in warning
    assert "grant it pg_monitor" in warning

    with psycopg.connect(primary_database.dsn, autocommit=True) as admin:
        admin.execute(f"GRANT pg_monitor TO {ROLE}")
    seeing = ReplicaThrottle(max_lag=timedelta(seconds=1))
    with psycopg.connect(role_without_pg_monitor, autocommit=True) as conn:
        reasons = []
        for _ in range(3):
            _write(primary_database)
            standby.wait_received()
            reasons.append(seeing.wait_reason(conn))
    assert reasons[0] is None  # one look cannot tell a stall from a standby that is busy
    assert reasons[-1] is not None and reasons[-1].startswith(f"waiting: standby {STANDBY_NAME}")
    assert "replay stalled" in reasons[-1]
    assert len(throttle_logs) == 1


def test_each_look_reports_every_standbys_lag_as_an_event_and_a_metric(
    primary_database: PgDatabase, standby: StandbyPair
) -> None:
    """What --metrics-port serves as expandctl_replication_lag_bytes{standby=…}."""
    from prometheus_client import generate_latest

    from expandctl.cli.metrics import Metrics
    from expandctl.engine import events

    standby.wait_caught_up()
    standby.pause_replay()
    metrics = Metrics()
    seen: list[events.Event] = []
    unsubscribe = [events.subscribe(seen.append), events.subscribe(metrics.observe)]
    try:
        throttle = ReplicaThrottle(max_lag_bytes=1)
        with psycopg.connect(primary_database.dsn, autocommit=True) as conn:
            _write(primary_database)
            standby.wait_received()
            throttle.wait_reason(conn)
    finally:
        for undo in unsubscribe:
            undo()
    lags = [e for e in seen if e.name == "replication_lag"]
    assert [e.fields["standby"] for e in lags] == [STANDBY_NAME]
    behind = lags[0].fields["lag_bytes"]
    assert isinstance(behind, int) and behind > 0  # replay is paused after a write
    text = generate_latest(metrics.registry).decode()
    assert f'expandctl_replication_lag_bytes{{standby="{STANDBY_NAME}"}} {float(behind)}' in text
