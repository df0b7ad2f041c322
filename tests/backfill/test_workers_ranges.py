"""Key ranges of a parallel backfill: disjoint, covering, on any key shape (real PostgreSQL).

Hypothesis draws the table's keys (dense, gappy, skewed, duplicated first
columns of a composite key, text); for each draw the split must put every row
with a key up to the pass's end in exactly one range, in key order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from expandctl.engine.backfill.keyset import KeysetSql
from expandctl.engine.backfill.ranges import (
    FINE_PARTS_PER_WORKER,
    KeyRange,
    auto_workers,
    cut_keys,
    merge_parts,
    range_sizes,
    split,
    workers_of,
)
from expandctl.engine.backfill.spec_check import resolve_table
from expandctl.model.backfill import BackfillSpec
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db


@pytest.fixture
def conn(pg_database: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    with pg_database.connect(autocommit=True) as conn:
        yield conn


def _keyset(conn: psycopg.Connection[Any], table: str) -> KeysetSql:
    spec = BackfillSpec(table=table, set={"v": "1"}, where="v IS NULL")
    info = resolve_table(conn, spec)
    return KeysetSql(info.ident, info.key, info.key_types, spec)


def _ranges(
    conn: psycopg.Connection[Any], keyset: KeysetSql, workers: int, lower: list[str] | None = None
) -> tuple[list[KeyRange], list[str] | None]:
    row = conn.execute(keyset.max_key()).fetchone()
    if row is None:
        return [], None
    end = list(row)
    return split(lower, cut_keys(conn, keyset, lower, end, workers), end), end


def _bound(keyset: KeysetSql, key: list[str]) -> sql.Composable:
    return sql.SQL("ROW({})").format(
        sql.SQL(", ").join(
            sql.SQL("{}::{}").format(sql.Literal(v), sql.SQL(t))
            for v, t in zip(key, keyset.key_types, strict=True)
        )
    )


def _in_range(keyset: KeysetSql, each: KeyRange) -> sql.Composable:
    row = sql.SQL("ROW({})").format(sql.SQL(", ").join(sql.Identifier(k) for k in keyset.key))
    upper = sql.SQL("{} <= {}").format(row, _bound(keyset, each.end))
    if each.first is None:
        return upper
    return sql.SQL("{} > {} AND {}").format(row, _bound(keyset, each.first), upper)


def _assert_partition(
    conn: psycopg.Connection[Any],
    keyset: KeysetSql,
    ranges: list[KeyRange],
    end: list[str],
    lower: list[str] | None = None,
) -> None:
    """Every row in (lower, end] lies in exactly one range; none is empty; in key order."""
    hits = sql.SQL(" + ").join(
        sql.SQL("({})::int").format(_in_range(keyset, each)) for each in ranges
    )
    span = _in_range(keyset, KeyRange(lower, end))
    wrong = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE ({}) AND ({}) <> 1").format(keyset.table, span, hits)
    ).fetchone()
    assert wrong == (0,)
    outside = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE NOT ({}) AND ({}) > 0").format(
            keyset.table, span, hits
        )
    ).fetchone()
    assert outside == (0,)
    for each in ranges:  # the whole table is sampled at this size: no empty range
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                keyset.table, _in_range(keyset, each)
            )
        ).fetchone()
        assert row is not None and row[0] > 0, each


int_keys = st.one_of(
    st.sets(st.integers(-(2**40), 2**40), max_size=400),  # sparse, both signs
    st.builds(lambda n: set(range(1, n + 1)), st.integers(0, 3000)),  # dense
    st.builds(  # skewed: a dense cluster and a few far outliers
        lambda n, far: set(range(n)) | {10**12 + f for f in far},
        st.integers(0, 2000),
        st.sets(st.integers(0, 10**6), max_size=5),
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(keys=int_keys, workers=st.integers(1, 9))
def test_integer_keys_split_into_disjoint_ranges_covering_every_row(
    conn: psycopg.Connection[Any], keys: set[int], workers: int
) -> None:
    conn.execute("DROP TABLE IF EXISTS t")
    conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, v int)")
    conn.execute("INSERT INTO t (id) SELECT unnest(%s::bigint[])", (sorted(keys),))
    keyset = _keyset(conn, "t")
    ranges, end = _ranges(conn, keyset, workers)
    if end is None:
        assert not keys
        return
    assert 1 <= len(ranges) <= min(workers, len(keys))
    _assert_partition(conn, keyset, ranges, end)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.sets(
        st.tuples(st.integers(0, 3), st.text("ab'\" %é", max_size=4)), min_size=0, max_size=300
    ),
    workers=st.integers(2, 6),
)
def test_composite_text_keys_split_into_disjoint_ranges_covering_every_row(
    conn: psycopg.Connection[Any], rows: set[tuple[int, str]], workers: int
) -> None:
    conn.execute('DROP TABLE IF EXISTS "Odd %table"')
    conn.execute(
        'CREATE TABLE "Odd %table" (tenant int, "na%me" text COLLATE "C", v int,'
        ' PRIMARY KEY (tenant, "na%me"))'
    )
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO "Odd %%table" (tenant, "na%%me") VALUES (%s, %s)', sorted(rows)
        )
    keyset = _keyset(conn, '"Odd %table"')
    ranges, end = _ranges(conn, keyset, workers)
    if end is None:
        assert not rows
        return
    assert 1 <= len(ranges) <= min(workers, len(rows))
    _assert_partition(conn, keyset, ranges, end)


def test_a_resumed_pass_is_split_from_its_last_key(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    conn.execute("INSERT INTO t (id) SELECT g * 3 FROM generate_series(1, 1000) g")
    keyset = _keyset(conn, "t")
    ranges, end = _ranges(conn, keyset, 4, lower=["1500"])
    assert end == ["3000"]
    assert len(ranges) == 4 and ranges[0].first == ["1500"] and ranges[-1].end == ["3000"]
    _assert_partition(conn, keyset, ranges, end, lower=["1500"])


def test_parts_hold_equal_rows_on_skewed_keys(conn: psycopg.Connection[Any]) -> None:
    # 9,000 ids packed at the start, 1,000 spread over a billion: min..max would put
    # 90 % of the rows in the first range.
    conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, v int)")
    conn.execute(
        "INSERT INTO t (id) SELECT g FROM generate_series(1, 9000) g"
        " UNION ALL SELECT g * 1000000 FROM generate_series(1, 1000) g"
    )
    keyset = _keyset(conn, "t")
    ranges, end = _ranges(conn, keyset, 4)
    assert end is not None
    sizes = [
        conn.execute(
            sql.SQL("SELECT count(*) FROM t WHERE {}").format(_in_range(keyset, each))
        ).fetchone()
        for each in ranges
    ]
    assert sizes == [(2500,)] * 4


def test_auto_follows_the_servers_per_statement_parallelism_and_the_table_size(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("SET max_parallel_workers_per_gather = 2")
    conn.execute("SET max_parallel_workers = 8")
    assert auto_workers(conn, 50_000) == 1  # small table: one worker
    assert auto_workers(conn, 10_000_000) == 2
    conn.execute("SET max_parallel_workers_per_gather = 6")
    assert auto_workers(conn, 10_000_000) == 4  # never more than 4
    assert auto_workers(conn, 300_000) == 3
    conn.execute("SET max_parallel_workers_per_gather = 0")  # parallel query off
    assert auto_workers(conn, 10_000_000) == 1


def test_ranges_shrink_towards_the_end_and_cover_every_part() -> None:
    parts = [KeyRange([str(n)] if n else None, [str(n + 1)]) for n in range(32)]
    ranges = merge_parts(parts, workers=2)
    sizes = range_sizes(32, 2)
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 32
    assert sizes[0] == 8 and sizes[-4:] == [1, 1, 1, 1]  # a quarter first, one part last
    assert ranges[0].first is None and ranges[-1].end == ["32"]
    assert [r.first for r in ranges[1:]] == [r.end for r in ranges[:-1]]  # no gap, no overlap
    assert len(merge_parts(parts[:3], workers=2)) == 3  # fewer parts than planned


def test_the_worker_count_is_read_back_from_the_number_of_ranges() -> None:
    for workers in range(2, 17):
        planned = range_sizes(workers * FINE_PARTS_PER_WORKER, workers)
        assert workers_of(len(planned)) == workers
    assert workers_of(8) == 2  # a pass split by the version before: four equal ranges each
