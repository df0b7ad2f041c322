"""Throttles slow the backfill down (lower bounds only: a busy machine only adds time)."""

from __future__ import annotations

import time

import pytest

from expandctl.engine.backfill import BackfillProgress
from tests.backfill.helpers import make_users, run, spec, wrong_rows
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db


def test_rows_per_second_cap(pg_database: PgDatabase) -> None:
    make_users(pg_database, 3_000)
    started = time.monotonic()
    run(pg_database, spec(batch_size=500, max_rows_per_second=5_000))
    # 3,000 rows at 5,000/s: the last batch starts no earlier than 0.5 s in
    assert time.monotonic() - started >= 0.5
    assert wrong_rows(pg_database) == 0


def test_wal_rate_cap_waits_and_says_why(pg_database: PgDatabase) -> None:
    make_users(pg_database, 4_000)
    ticks: list[BackfillProgress] = []
    started = time.monotonic()
    run(
        pg_database,
        spec(batch_size=1_000, max_wal_bytes_per_second=2_000_000),
        progress=ticks.append,
    )
    # ~4,000 rows x ~400 bytes of WAL each (measured): ~0.8 s at 2 MB/s
    assert time.monotonic() - started >= 0.3
    assert any(t.throttled_reason and "WAL" in t.throttled_reason for t in ticks)
    assert wrong_rows(pg_database) == 0


def test_replication_lag_limit_without_standbys_does_not_pause(pg_database: PgDatabase) -> None:
    # The only case this machine can show: no standby, so no lag and no waiting.
    make_users(pg_database, 2_000)
    ticks: list[BackfillProgress] = []
    run(pg_database, spec(batch_size=500, max_replication_lag="1ms"), progress=ticks.append)
    assert not any(t.throttled_reason for t in ticks)
    assert wrong_rows(pg_database) == 0


def test_pause_ms_sleeps_between_batches(pg_database: PgDatabase) -> None:
    make_users(pg_database, 2_000)
    started = time.monotonic()
    result = run(pg_database, spec(batch_size=250, pause_ms=60))
    assert result.batches == 8
    assert time.monotonic() - started >= 7 * 0.06
