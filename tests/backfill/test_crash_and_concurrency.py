"""kill -9 in the middle, then resume; and writers running alongside the backfill."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from expandctl.engine.backfill import backfill_status
from tests.backfill.helpers import MIGRATION, SCHEMA, make_users, run, scalar, spec, wrong_rows
from tests.conftest import PgDatabase

pytestmark = [pytest.mark.db, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _rows_done(db: PgDatabase) -> int:
    with db.connect() as conn:
        checkpoints = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
    return checkpoints[0].rows_done if checkpoints else 0


def test_kill_9_mid_backfill_then_resume_misses_and_repeats_nothing(
    pg_database: PgDatabase,
) -> None:
    make_users(pg_database, 30_000, touches=True)
    worker = subprocess.Popen(  # slow batches, so we surely catch it in the middle
        [sys.executable, "-m", "tests.backfill.worker", pg_database.dsn, "500", "20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while _rows_done(pg_database) < 5_000:
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    done_before = _rows_done(pg_database)
    assert 5_000 <= done_before < 30_000
    # the checkpoint matches the data: every committed batch is counted, no more
    assert wrong_rows(pg_database) == 30_000 - done_before
    with pg_database.connect() as conn:
        [checkpoint] = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
    assert not checkpoint.finished and checkpoint.last_key is not None

    result = run(pg_database, spec())

    assert result.resumed
    assert result.rows_updated == 30_000 - done_before
    assert result.rows_done == 30_000
    assert wrong_rows(pg_database) == 0
    # the killed, uncommitted batch was rolled back: every row updated exactly once
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE touches <> 1") == 0


def test_concurrent_writers_end_consistent(pg_database: PgDatabase) -> None:
    make_users(pg_database, 30_000)
    with pg_database.connect(autocommit=True) as conn:
        # what the migration's expand phase installs: new and changed rows stay in sync
        conn.execute(
            "CREATE FUNCTION sync_email_norm() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN NEW.email_norm := lower(NEW.email); RETURN NEW; END$$"
        )
        conn.execute(
            "CREATE TRIGGER sync_email_norm BEFORE INSERT OR UPDATE OF email ON users"
            " FOR EACH ROW EXECUTE FUNCTION sync_email_norm()"
        )
    stop = threading.Event()
    done: dict[str, int] = {"inserted": 0, "updated": 0}
    errors: list[BaseException] = []

    def inserter() -> None:
        try:
            with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
                next_id = 100_000
                while not stop.is_set():
                    conn.execute(
                        "INSERT INTO users (id, email) VALUES (%s, %s)",
                        (next_id, f"New{next_id}@X.ORG"),
                    )
                    next_id += 1
                    done["inserted"] += 1
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    def updater(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
                while not stop.is_set():
                    conn.execute(
                        "UPDATE users SET email = %s WHERE id = %s",
                        (f"Changed{rng.random()}@Y.NET", rng.randint(1, 30_000)),
                    )
                    done["updated"] += 1
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=inserter)] + [
        threading.Thread(target=updater, args=(seed,)) for seed in (1, 2)
    ]
    for thread in writers:
        thread.start()
    try:
        time.sleep(0.2)
        before = dict(done)
        result = run(pg_database, spec(batch_size=500, pause_ms=5))
        during = {k: done[k] - before[k] for k in done}
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)

    assert not errors, errors
    assert during["inserted"] > 0 and during["updated"] > 0, during
    assert result.remaining == 0
    assert wrong_rows(pg_database) == 0
    assert scalar(pg_database, "SELECT count(*) FROM users") == 30_000 + done["inserted"]
