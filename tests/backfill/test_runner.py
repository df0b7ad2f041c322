"""The runner against a real PostgreSQL: data, keys, verification, retries, pause."""

from __future__ import annotations

import threading
import time

import pytest

from expandctl.engine.backfill import (
    BackfillProgress,
    backfill_status,
    remaining_rows,
    reset_backfill,
    set_paused,
)
from expandctl.errors import DatabaseError, StateError
from expandctl.model.config import Settings
from tests.backfill.helpers import (
    MIGRATION,
    SCHEMA,
    make_users,
    run,
    scalar,
    spec,
    tempt_parallel_scans,
    wrong_rows,
)
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db


def test_fills_every_row_and_records_a_finished_checkpoint(pg_database: PgDatabase) -> None:
    make_users(pg_database, 20_000, touches=True)
    with pg_database.connect(autocommit=True) as conn:  # some rows are already right
        conn.execute("SET session_replication_role = replica")  # without the touch counter
        conn.execute("UPDATE users SET email_norm = lower(email) WHERE id % 4 = 0")

    result = run(pg_database, spec())

    assert wrong_rows(pg_database) == 0
    assert result.rows_updated == 15_000
    assert result.remaining == 0
    assert result.key == ["id"]
    # the guard kept already-correct rows out of the UPDATE; no row was touched twice
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE touches > 1") == 0
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE touches = 0") == 5_000
    with pg_database.connect() as conn:
        [checkpoint] = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
    assert checkpoint.finished and checkpoint.remaining == 0
    assert checkpoint.rows_done == 15_000
    assert checkpoint.last_key == checkpoint.end_key == ["20000"]


def test_a_second_run_only_verifies(pg_database: PgDatabase) -> None:
    make_users(pg_database, 2_000)
    run(pg_database, spec())
    again = run(pg_database, spec())
    assert again.rows_updated == 0 and again.batches == 0
    assert again.remaining == 0
    with pg_database.connect(autocommit=True) as conn:  # a row went wrong since
        conn.execute("UPDATE users SET email_norm = 'x' WHERE id = 1500")
    third = run(pg_database, spec())
    assert third.rows_updated == 1 and third.remaining == 0
    with pg_database.connect() as conn:
        [checkpoint] = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
    assert checkpoint.pass_number == 2


def test_composite_key_walks_rows_in_index_order(pg_database: PgDatabase) -> None:
    # The trap: with "a > x AND b > y" every batch boundary inside one value of a
    # would skip the rest of that a. Row-value comparison does not.
    with pg_database.connect(autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (tenant text NOT NULL, seq int NOT NULL, payload text,"
            " payload_len int, PRIMARY KEY (tenant, seq))"
        )
        conn.execute(
            "INSERT INTO events SELECT 't' || t, s, repeat('x', s % 17)"
            " FROM generate_series(1, 60) t, generate_series(1, 300) s"
        )
    backfill = spec(
        table="events",
        set={"payload_len": "length(payload)"},
        where="payload_len IS DISTINCT FROM length(payload)",
        batch_size=37,  # odd, so boundaries fall in the middle of a tenant
    )

    result = run(pg_database, backfill)

    assert result.key == ["tenant", "seq"]
    assert result.rows_updated == 18_000
    assert scalar(pg_database, "SELECT count(*) FROM events WHERE payload_len IS NULL") == 0
    assert result.batches >= 18_000 // 37


def test_explicit_key_and_schema_qualified_table(pg_database: PgDatabase) -> None:
    with pg_database.connect(autocommit=True) as conn:
        conn.execute(
            'CREATE SCHEMA app; CREATE TABLE app."Orders" (code uuid NOT NULL UNIQUE,'
            " total numeric, total_cents bigint)"
        )
        conn.execute(
            'INSERT INTO app."Orders" SELECT gen_random_uuid(), g / 100.0, NULL'
            " FROM generate_series(1, 3000) g"
        )
    backfill = spec(
        table='app."Orders"',
        set={"total_cents": "(total * 100)::bigint"},
        where="total_cents IS NULL",
        batch_size=250,
    )
    result = run(pg_database, backfill)
    assert result.key == ["code"]  # the unique NOT NULL key, found without a primary key
    assert scalar(pg_database, 'SELECT sum(total_cents) FROM app."Orders"') == sum(range(3001))


def test_verification_fails_with_the_count_of_rows_left(pg_database: PgDatabase) -> None:
    # rows inserted after the upper bound was fixed, with no sync trigger to fill them
    make_users(pg_database, 3_000)
    inserted = threading.Event()

    def insert_late_rows(_progress: object) -> None:
        if not inserted.is_set():
            with pg_database.connect(autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO users (id, email) SELECT g, 'Late' || g"
                    " FROM generate_series(10001, 10007) g"
                )
            inserted.set()

    with pytest.raises(StateError) as excinfo:
        run(pg_database, spec(batch_size=500), progress=insert_late_rows)
    assert "7 row(s)" in excinfo.value.message
    assert "sync trigger" in (excinfo.value.hint or "")
    with pg_database.connect() as conn:
        [checkpoint] = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
    assert checkpoint.finished and checkpoint.remaining == 7

    # the next run starts a new pass with a new upper bound and picks them up
    again = run(pg_database, spec())
    assert again.rows_updated == 7 and again.remaining == 0
    assert wrong_rows(pg_database) == 0


def test_a_held_row_lock_is_retried_with_a_smaller_batch(pg_database: PgDatabase) -> None:
    make_users(pg_database, 5_000)
    holder = pg_database.connect()
    holder.execute("SELECT 1 FROM users WHERE id = 2500 FOR UPDATE")
    release = threading.Timer(0.6, holder.rollback)
    release.start()
    try:
        result = run(pg_database, spec(lock_timeout="50ms", batch_size=1000))
    finally:
        release.join()
        holder.close()
    assert result.retries >= 1
    assert wrong_rows(pg_database) == 0


def test_retries_are_bounded(pg_database: PgDatabase) -> None:
    make_users(pg_database, 2_000)
    with pg_database.connect() as holder:
        holder.execute("SELECT 1 FROM users WHERE id = 10 FOR UPDATE")
        with pytest.raises(DatabaseError) as excinfo:
            run(pg_database, spec(lock_timeout="20ms"), settings=Settings(lock_retries=2))
    assert "failed 3 times" in excinfo.value.message
    assert "55P03" in excinfo.value.message
    with pg_database.connect() as conn:
        [checkpoint] = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
    assert not checkpoint.finished  # resumable, nothing was lost


def test_pause_stops_batches_until_resume(pg_database: PgDatabase) -> None:
    make_users(pg_database, 4_000)
    with pg_database.connect(autocommit=True) as conn:
        set_paused(conn, schema=SCHEMA, migration_id=MIGRATION, paused=True)
    ticks: list[BackfillProgress] = []
    results: list[object] = []
    worker = threading.Thread(
        target=lambda: results.append(run(pg_database, spec(), progress=ticks.append))
    )
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not ticks and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.7)  # a paused runner polls; give it time to (wrongly) do a batch
        assert wrong_rows(pg_database) == 4_000
        with pg_database.connect() as conn:
            [checkpoint] = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
        assert checkpoint.paused and checkpoint.batches == 0
        assert all(t.paused for t in ticks)
    finally:
        with pg_database.connect(autocommit=True) as conn:
            set_paused(conn, schema=SCHEMA, migration_id=MIGRATION, paused=False)
        worker.join(timeout=60)
    assert results, "the runner did not finish after resume"
    assert wrong_rows(pg_database) == 0


def test_reset_forgets_checkpoints(pg_database: PgDatabase) -> None:
    make_users(pg_database, 500)
    run(pg_database, spec())
    with pg_database.connect(autocommit=True) as conn:
        reset_backfill(conn, schema=SCHEMA, migration_id=MIGRATION)
        assert backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION) == []


def test_progress_reports_rows_and_an_estimate(pg_database: PgDatabase) -> None:
    make_users(pg_database, 6_000)
    ticks: list[BackfillProgress] = []
    run(pg_database, spec(batch_size=1_000), progress=ticks.append)
    last = ticks[-1]
    assert len(ticks) == 6
    assert last.rows_done == 6_000
    assert last.fraction == 1.0
    assert last.eta_seconds == 0.0


def test_remaining_rows_counts_what_is_left(pg_database: PgDatabase) -> None:
    make_users(pg_database, 300)
    with pg_database.connect() as conn:
        assert remaining_rows(conn, spec()) == 300
    run(pg_database, spec())
    with pg_database.connect() as conn:
        assert remaining_rows(conn, spec()) == 0


def test_percent_signs_in_expressions_reach_the_server_as_written(pg_database: PgDatabase) -> None:
    # LIKE patterns and modulo: the batch statement also carries %s parameters,
    # so a stray % used to be read as a placeholder and fail before any batch ran.
    make_users(pg_database, 1_000)
    backfill = spec(
        set={"email_norm": "CASE WHEN id % 2 = 0 THEN lower(email) ELSE 'odd%' END"},
        where="email_norm IS NULL AND email LIKE 'User%'",
    )
    result = run(pg_database, backfill)
    assert result.rows_updated == 1_000 and result.remaining == 0
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE email_norm = %s", ("odd%",)) == 500
    assert wrong_rows(pg_database) == 500  # the odd rows hold the literal, not lower(email)


def test_the_verification_count_runs_on_one_core(pg_database: PgDatabase) -> None:
    # A parallel whole-table scan takes every core of a small server and was
    # measured doubling the application's p99; the count must not go parallel
    # even where the planner would love to (costs zeroed below).
    make_users(pg_database, 20_000)
    tempt_parallel_scans(pg_database)
    where = "email_norm IS DISTINCT FROM lower(email) AND seen_by()"
    with pg_database.connect(autocommit=True) as conn:
        pids: set[str] = set()
        conn.add_notice_handler(lambda diag: pids.add(diag.message_primary or ""))
        plan = "\n".join(
            r[0] for r in conn.execute(f"EXPLAIN SELECT count(*) FROM users WHERE {where}")
        )
        assert "Parallel" in plan  # the trap is armed: a plain count would go parallel
        assert remaining_rows(conn, spec(where=where)) == 20_000
    assert len(pids) == 1, pids
