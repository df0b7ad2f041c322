"""The pure parts: the batch SQL's shape and the adaptive batch size."""

from __future__ import annotations

from expandctl.engine.backfill import plan_backfill_sql
from expandctl.engine.backfill.sizing import MIN_BATCH, BatchSizer
from tests.backfill.helpers import spec


def test_plan_uses_row_values_and_offsets_only_within_a_batch() -> None:
    text = plan_backfill_sql(spec(table="events"), ["tenant", "seq"])
    assert "(tenant, seq) > (:last_tenant, :last_seq)" in text
    assert "(tenant, seq) <= (:upper_tenant, :upper_seq)" in text
    assert "OFFSET :batch_size - 1 LIMIT 1" in text  # within one batch, never the table
    assert "(email_norm IS DISTINCT FROM lower(email))" in text


def test_plan_quotes_odd_identifiers() -> None:
    text = plan_backfill_sql(spec(table='app."Orders"', set={"Total Cents": "1"}), ["Code"])
    assert 'UPDATE app."Orders" SET' in text
    assert '"Total Cents" = (1)' in text
    assert '("Code") > (:last_Code)' in text


def test_size_moves_toward_the_target_at_most_doubling() -> None:
    sizer = BatchSizer(target_ms=100, size=1_000)
    sizer.observe(rows=1_000, elapsed_ms=10)  # 10x too fast: would like 10,000
    assert sizer.size == 2_000
    for _ in range(20):
        sizer.observe(rows=sizer.size, elapsed_ms=sizer.size / 100)  # 100 rows/ms
    assert 9_000 <= sizer.size <= 11_000


def test_size_shrinks_when_batches_are_slow_and_after_errors() -> None:
    sizer = BatchSizer(target_ms=100, size=8_000)
    sizer.observe(rows=8_000, elapsed_ms=1_600)  # would like 500: moves halfway there
    assert sizer.size == 4_250
    sizer.observe(rows=4_250, elapsed_ms=1e9)  # wildly slow: halves, no more
    assert sizer.size == 2_125
    sizer.shrink()
    assert sizer.size == 1_062
    for _ in range(20):
        sizer.shrink()
    assert sizer.size == MIN_BATCH


def test_a_short_last_batch_does_not_move_the_size() -> None:
    sizer = BatchSizer(target_ms=100, size=4_000)
    sizer.observe(rows=10, elapsed_ms=50)
    assert sizer.size == 4_000


def test_fixed_size_stays_fixed_but_recovers_after_a_retry() -> None:
    sizer = BatchSizer.for_spec(500, 100)
    sizer.observe(rows=500, elapsed_ms=1)
    assert sizer.size == 500
    sizer.shrink()
    assert sizer.size == 250
    sizer.observe(rows=250, elapsed_ms=1)
    assert sizer.size == 500


def test_a_new_target_scales_a_learnt_size_at_once_but_not_a_first_guess() -> None:
    sizer = BatchSizer(target_ms=20, size=1_000)
    sizer.retarget(100)  # the first guess was aimed at neither target
    assert (sizer.size, sizer.target_ms) == (1_000, 100)
    sizer.observe(1_000, 50.0)  # learnt: 1,000 rows in 50 ms
    learnt = sizer.size
    sizer.retarget(20)  # others started working: a fifth of the time, at once
    assert sizer.size == learnt // 5 and sizer.target_ms == 20
    fixed = BatchSizer.for_spec(500, 20)
    fixed.retarget(100)
    assert fixed.size == 500  # a fixed batch_size stays fixed
