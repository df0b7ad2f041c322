"""Split a backfill's key space into disjoint ranges for the workers to take in turn.

The rule, for every key type (integer, text, uuid, composite):

- a pass covers ``(lower, end]``: ``lower`` is where it starts (no bound for a
  new pass, the last key done when a one-worker pass is split on resume) and
  ``end`` the largest key when the pass started;
- the cut keys come from a block sample of that span (``TABLESAMPLE SYSTEM``
  of about :data:`SAMPLE_PAGES` pages, the whole table when it is smaller),
  sorted by the key and cut into parts of equal row counts
  (:data:`FINE_PARTS_PER_WORKER` per worker), which :func:`merge_parts` joins
  into ranges that shrink toward the end of the pass.
  Sampling rows, not key values, keeps the parts even on skewed keys (ids
  with gaps, clustered text) where splitting ``min..max`` evenly would not;
- range *i* is ``(cut[i-1], cut[i]]``, the first starts at ``lower`` and the
  last ends at ``end``. The cuts are distinct keys in key order, so the
  ranges are disjoint and together cover ``(lower, end]`` exactly;
- fewer distinct sampled keys than workers (a tiny or empty table) give
  fewer ranges, down to one.

``workers = "auto"`` is :func:`auto_workers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from expandctl.engine.backfill.keyset import KeysetSql, batch_params
from expandctl.model.backfill import MAX_WORKERS

SAMPLE_PAGES = 500  # 4 MB of 8 kB pages: tens of thousands of keys, ~40 ms on any table
AUTO_MAX_WORKERS = 4  # measured: past the cores, more connections only queue (performance.md)
AUTO_ROWS_PER_WORKER = 100_000  # below this a worker's connection costs more than it saves
# Equal parts per worker that the ranges are made of. The workers take ranges from
# one queue, big ones first and small ones last (guided self-scheduling): the one
# that runs out of ranges first waits for the other's last range, at most
# 1/(FINE_PARTS_PER_WORKER * workers) of the pass. With four equal ranges per worker
# that wait was 5-7 % of a 2-worker pass (docs/performance.md).
FINE_PARTS_PER_WORKER = 16
LEGACY_RANGES_PER_WORKER = 4  # passes split before the ranges shrank: equal ranges


def range_sizes(parts: int, workers: int) -> list[int]:
    """How many consecutive equal parts each range takes, in key order.

    Each range takes half a worker's fair share of what is left: the first
    range of a 2-worker pass is a quarter of it, the last ones one part each.
    """
    sizes: list[int] = []
    left = parts
    while left > 0:
        take = max(1, -(-left // (2 * workers)))  # ceil
        sizes.append(take)
        left -= take
    return sizes


def merge_parts(parts: list[KeyRange], workers: int) -> list[KeyRange]:
    """Consecutive ``parts`` joined into the ranges of :func:`range_sizes`."""
    ranges: list[KeyRange] = []
    start = 0
    for size in range_sizes(len(parts), workers):
        joined = parts[start : start + size]
        ranges.append(KeyRange(joined[0].first, joined[-1].end))
        start += size
    return ranges


# The number of ranges each worker count's full plan makes: distinct for 2..MAX_WORKERS.
_WORKERS_BY_RANGES = {
    len(range_sizes(workers * FINE_PARTS_PER_WORKER, workers)): workers
    for workers in range(2, MAX_WORKERS + 1)
}


def workers_of(ranges: int) -> int:
    """How many workers a pass cut into ``ranges`` key ranges was split for."""
    # Not in the plans: a small table (fewer distinct keys than parts), or a pass
    # split by an earlier version into equal ranges.
    return _WORKERS_BY_RANGES.get(ranges) or max(1, round(ranges / LEGACY_RANGES_PER_WORKER))


@dataclass(frozen=True)
class KeyRange:
    """``(first, end]`` in key order; ``first`` None means from the table's first key."""

    first: list[str] | None
    end: list[str]


def split(
    lower: Sequence[str] | None, cuts: Sequence[Sequence[str]], end: Sequence[str]
) -> list[KeyRange]:
    """The ranges between consecutive cuts; ``cuts`` are in key order, inside (lower, end)."""
    bounds: list[list[str] | None] = [list(lower) if lower is not None else None]
    bounds += [list(cut) for cut in cuts if list(cut) != list(end)]
    return [
        KeyRange(first, list(upper))
        for first, upper in zip(bounds, [*bounds[1:], list(end)], strict=True)
        if upper is not None
    ]


def sample_percent(conn: psycopg.Connection[Any], keyset: KeysetSql) -> float:
    """The share of the table's pages that makes about SAMPLE_PAGES (at most all)."""
    row = conn.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::bigint",
        (keyset.table.as_string(None),),
    ).fetchone()
    pages = int(row[0]) if row and row[0] else 0
    return 100.0 if pages <= SAMPLE_PAGES else 100.0 * SAMPLE_PAGES / pages


def cut_keys(
    conn: psycopg.Connection[Any],
    keyset: KeysetSql,
    lower: Sequence[str] | None,
    end: Sequence[str],
    parts: int,
) -> list[list[str]]:
    """``parts - 1`` (or fewer) keys cutting ``(lower, end]`` into parts of equal rows."""
    if parts <= 1:
        return []
    percent = sample_percent(conn, keyset)
    rows = conn.execute(
        keyset.split_keys(lower=lower is not None),
        [parts, percent, *batch_params(lower, end)],
    ).fetchall()
    return [list(row) for row in rows[:-1]]  # the last part's largest key is no cut


def auto_workers(conn: psycopg.Connection[Any], reltuples: int) -> int:
    """``workers = "auto"``: how many workers a backfill of ``reltuples`` rows gets.

    SQL cannot see the server's cores. ``max_parallel_workers_per_gather``
    (default 2) is the server's own answer to "how many processes may one
    statement use", which is what a backfill is; 0 (parallel query turned
    off) means one worker. Capped by ``max_parallel_workers`` and at 4, and
    one worker per 100,000 rows (``pg_class.reltuples``), so small tables
    keep a single worker.
    """
    row = conn.execute(
        "SELECT current_setting('max_parallel_workers_per_gather')::int,"
        " current_setting('max_parallel_workers')::int"
    ).fetchone()
    per_statement, server = (int(row[0]), int(row[1])) if row else (0, 0)
    by_size = max(1, reltuples // AUTO_ROWS_PER_WORKER)
    return max(1, min(AUTO_MAX_WORKERS, per_statement, server, by_size))
