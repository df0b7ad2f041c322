"""Parallel workers against a real PostgreSQL: every row once, pause, failure, resume, upgrade."""

from __future__ import annotations

import io
import re
import threading
import time
from typing import Any

import pytest

from expandctl.cli.backfill_progress import ProgressRenderer
from expandctl.engine.backfill import BackfillProgress, backfill_status, set_paused
from expandctl.errors import DatabaseError
from tests.backfill.helpers import MIGRATION, SCHEMA, make_users, run, scalar, spec, wrong_rows
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db


def _log_backends(db: PgDatabase) -> None:
    """Which backend updated each row: shows the workers really ran side by side."""
    with db.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE touch_log (id bigint, pid int)")
        conn.execute(
            "CREATE FUNCTION log_touch() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN INSERT INTO touch_log VALUES (NEW.id, pg_backend_pid()); RETURN NEW; END$$"
        )
        conn.execute(
            "CREATE TRIGGER log_touch AFTER UPDATE ON users"
            " FOR EACH ROW EXECUTE FUNCTION log_touch()"
        )


def _status(db: PgDatabase) -> Any:
    with db.connect() as conn:
        [checkpoint] = backfill_status(conn, schema=SCHEMA, migration_id=MIGRATION)
    return checkpoint


def _ranges(db: PgDatabase) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT range_no, first_key, last_key, end_key, rows_done FROM"
            " expandctl.backfill_ranges ORDER BY range_no"
        ).fetchall()


def test_four_workers_fill_every_row_exactly_once_side_by_side(pg_database: PgDatabase) -> None:
    make_users(pg_database, 40_000, touches=True)
    _log_backends(pg_database)
    ticks: list[BackfillProgress] = []

    result = run(pg_database, spec(workers=4, batch_size=500), progress=ticks.append)

    assert wrong_rows(pg_database) == 0
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE touches <> 1") == 0
    assert result.rows_updated == result.rows_done == 40_000
    assert result.workers == 4 and result.remaining == 0
    assert scalar(pg_database, "SELECT count(DISTINCT pid) FROM touch_log") == 4
    # every range ran to its end, and they follow each other without a gap
    ranges = _ranges(pg_database)
    assert [r[0] for r in ranges] == list(range(21))  # 64 equal parts merged into 21
    # big ranges first, small ones last: the first worker out of work waits little
    assert ranges[0][4] >= 6 * ranges[-1][4] > 0
    assert ranges[0][1] is None and ranges[-1][3] == ["40000"]
    assert all(r[2] == r[3] for r in ranges)
    assert [r[1] for r in ranges[1:]] == [r[3] for r in ranges[:-1]]
    assert sum(r[4] for r in ranges) == 40_000
    checkpoint = _status(pg_database)
    assert checkpoint.workers == 4 and checkpoint.finished and checkpoint.remaining == 0
    assert checkpoint.rows_done == 40_000 and checkpoint.last_key == ["40000"]
    # one progress line for the whole pass: totals only grow, and end complete
    done = [t.rows_done for t in ticks]
    assert done == sorted(done) and done[-1] == 40_000
    assert ticks[-1].fraction == 1.0 and ticks[-1].rows_estimate == 40_000
    assert {t.workers for t in ticks} == {4}
    bar = io.StringIO()
    ProgressRenderer(bar, tty=True)(ticks[-1])
    line = "] public.users: 40,000 rows updated, scanned 100% of ~40,000, 4 workers, "
    assert line in bar.getvalue()


def test_one_worker_keeps_the_single_checkpoint_and_auto_stays_single_on_a_small_table(
    pg_database: PgDatabase,
) -> None:
    make_users(pg_database, 3_000)
    result = run(pg_database, spec(workers="auto"))
    assert result.workers == 1 and wrong_rows(pg_database) == 0
    assert _ranges(pg_database) == []
    assert _status(pg_database).workers == 1


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_tables_smaller_than_the_workers(pg_database: PgDatabase, rows: int) -> None:
    make_users(pg_database, rows, touches=True)
    result = run(pg_database, spec(workers=8))
    assert result.rows_done == rows and result.remaining == 0
    assert result.workers == (rows if rows > 1 else 1)
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE touches <> 1") == 0


def test_pause_holds_every_worker_until_resume(pg_database: PgDatabase) -> None:
    make_users(pg_database, 20_000)
    ticks: list[BackfillProgress] = []
    results: list[object] = []
    worker = threading.Thread(
        target=lambda: results.append(
            run(pg_database, spec(workers=3, batch_size=200, pause_ms=20), progress=ticks.append)
        )
    )
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while wrong_rows(pg_database) > 18_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        with pg_database.connect(autocommit=True) as conn:
            set_paused(conn, schema=SCHEMA, migration_id=MIGRATION, paused=True)
        time.sleep(1.0)  # every worker finishes its batch in flight, then waits
        paused_at = wrong_rows(pg_database)
        time.sleep(1.0)
        assert wrong_rows(pg_database) == paused_at > 0
        assert _status(pg_database).paused and ticks[-1].paused
    finally:
        with pg_database.connect(autocommit=True) as conn:
            set_paused(conn, schema=SCHEMA, migration_id=MIGRATION, paused=False)
        worker.join(timeout=120)
    assert results, "the workers did not finish after resume"
    assert wrong_rows(pg_database) == 0


def test_a_failing_range_stops_every_worker_and_advance_resumes_all_ranges(
    pg_database: PgDatabase,
) -> None:
    make_users(pg_database, 40_000, touches=True)
    poisoned = spec(
        workers=4,
        batch_size=200,
        pause_ms=5,
        set={
            "email_norm": "CASE WHEN id = 37000 THEN (1 / (id - 37000))::text ELSE lower(email) END"
        },
    )
    with pytest.raises(DatabaseError) as failed:
        run(pg_database, poisoned)

    message = str(failed.value)
    assert re.search(
        r"backfill 0002_email_norm\[0\] of public\.users, range \d+ of 21 \(\(id\) > \(", message
    )
    assert "division by zero" in message and "resume all ranges" in message
    # the other workers stopped after their batch in flight: what the checkpoints count
    # is exactly what was written, and nothing is finished
    ranges = _ranges(pg_database)
    assert len(ranges) == 21 and not all(r[2] == r[3] for r in ranges)  # 4 workers
    committed = sum(r[4] for r in ranges)
    assert wrong_rows(pg_database) == 40_000 - committed
    assert not _status(pg_database).finished
    with pg_database.connect() as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state <> 'idle'"
        ).fetchone()
    assert left == (0,)  # no worker is still busy

    # Fixed; fewer workers now: each thread takes the next unfinished range.
    result = run(pg_database, spec(workers=2, batch_size=200))
    assert result.resumed and result.workers == 2 and result.remaining == 0
    assert len(_ranges(pg_database)) == 21  # the pass kept its ranges
    assert result.rows_done == 40_000
    assert wrong_rows(pg_database) == 0
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE touches <> 1") == 0


def test_a_one_worker_checkpoint_of_the_old_layout_resumes_split_into_ranges(
    pg_database: PgDatabase,
) -> None:
    make_users(pg_database, 30_000, touches=True)
    poisoned = spec(
        batch_size=500,
        set={
            "email_norm": "CASE WHEN id = 12345 THEN (1 / (id - 12345))::text ELSE lower(email) END"
        },
    )
    with pytest.raises(Exception, match="division by zero"):
        run(pg_database, poisoned)
    before = _status(pg_database)
    assert before.workers == 1 and before.rows_done == 12_000 and before.last_key == ["12000"]
    with pg_database.connect(autocommit=True) as conn:  # back to layout 2
        conn.execute("DROP TABLE expandctl.backfill_ranges")
        conn.execute("DELETE FROM expandctl.schema_version WHERE version = 3")

    result = run(pg_database, spec(workers=3, batch_size=500))

    assert scalar(pg_database, "SELECT max(version) FROM expandctl.schema_version") == 3
    assert result.resumed and result.workers == 3
    assert result.rows_updated == 18_000 and result.rows_done == 30_000
    ranges = _ranges(pg_database)
    assert ranges[0][1] == ["12000"] and ranges[-1][3] == ["30000"]
    assert scalar(pg_database, "SELECT count(*) FROM users WHERE touches <> 1") == 0
    after = _status(pg_database)
    assert after.rows_done == 30_000 and after.workers == 3 and after.finished


def test_operations_that_fill_rows_hand_workers_to_their_backfills() -> None:
    from expandctl.model.manifest import Manifest
    from expandctl.model.ops.registry import plan_operations
    from expandctl.model.phases import Phase

    manifest = Manifest.model_validate(
        {
            "description": "x",
            "operations": [
                {"op": "add_column", "table": "t", "column": "c", "type": "int", "default": "0"},
                {"op": "set_not_null", "table": "t", "column": "d", "backfill": "1", "workers": 3},
                {
                    "op": "rename_column",
                    "table": "t",
                    "column": "a",
                    "to": "b",
                    "type": "text",
                    "workers": "auto",
                },
            ],
        }
    )
    steps = plan_operations(manifest.operations, Phase.BACKFILL, rollback=False, migration_id="1_x")
    assert [getattr(s, "spec").workers for s in steps] == [1, 3, "auto"]  # noqa: B009
    with pytest.raises(ValueError, match="workers must be 1 to 16, or 'auto'"):
        Manifest.model_validate(
            {
                "description": "x",
                "operations": [
                    {
                        "op": "add_column",
                        "table": "t",
                        "column": "c",
                        "type": "int",
                        "default": "0",
                        "workers": 0,
                    }
                ],
            }
        )


def test_status_adds_up_a_running_parallel_pass_and_reset_forgets_its_ranges(
    pg_database: PgDatabase,
) -> None:
    from expandctl.engine.backfill import reset_backfill

    make_users(pg_database, 9_000)
    run(pg_database, spec(workers=3, batch_size=1_000))
    done_in_range_1 = scalar(
        pg_database, "SELECT rows_done FROM expandctl.backfill_ranges WHERE range_no = 1"
    )
    with pg_database.connect(autocommit=True) as conn:  # as if interrupted mid-pass
        conn.execute(
            "UPDATE expandctl.backfill_ranges SET last_key = first_key, rows_done = 100,"
            " batches = 1, busy_seconds = 0.5, updated_at = now() + interval '1 hour'"
            " WHERE range_no = 1"
        )
        conn.execute("UPDATE expandctl.backfill_checkpoints SET finished = false")
    checkpoint = _status(pg_database)
    assert checkpoint.workers == 3 and not checkpoint.finished
    rows_done = 9_000 - done_in_range_1 + 100
    assert checkpoint.rows_done == rows_done and checkpoint.last_key is None
    assert checkpoint.rows_per_second > 0
    with pg_database.connect() as conn:  # the last batch of any range
        newest = conn.execute("SELECT max(updated_at) FROM expandctl.backfill_ranges").fetchone()
    assert newest is not None and checkpoint.updated_at == newest[0]
    from expandctl.cli.cmd_status import describe_checkpoint

    assert f"{rows_done:,} rows updated in pass 1, all runs" in describe_checkpoint(checkpoint)
    assert "last key (one per range, 16 ranges), not finished" in describe_checkpoint(checkpoint)
    with pg_database.connect(autocommit=True) as conn:
        reset_backfill(conn, schema=SCHEMA, migration_id=MIGRATION)
    assert _ranges(pg_database) == []
