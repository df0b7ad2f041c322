"""Backfill strategies side by side, with and without live traffic.

One command::

    .venv/bin/python bench/backfill_bench.py            # 2,000,000 rows, 3 repetitions
    .venv/bin/python bench/backfill_bench.py --rows 10000000 --reps 1

It creates (and finally drops) its own database on the local PostgreSQL,
generates ``users(id bigint primary key, email, name, updated_at, email_norm)``
and fills ``email_norm = lower(email)`` five ways:

  (a) one single UPDATE statement (the throughput ceiling),
  (b) a naive loop over fixed 1,000-row id ranges,
  (c) pgroll-style batches: ``SELECT ... LIMIT 1000 FOR NO KEY UPDATE`` on the
      next rows still to do (keyset on the primary key, as pgroll does), then UPDATE,
  (d) expandctl's runner (``run_backfill``) with ``--target-ms`` (default 20),
  (e) the same with the spec's default target_batch_ms = 100,
  (f) expandctl's runner with ``workers = 2`` (``--workers-target-ms``, default 20),
  (g) the same with ``workers = 4``,

each on a fresh copy of the table, once alone and once while pgbench runs a
fixed-rate custom script that reads and updates random rows of the same table.
It reports rows/s, the ratio to (a), batch duration median/max, the load's
latency p50/p99/max against a no-backfill baseline, the longest lock wait seen
(pg_stat_activity sampled every 10 ms) and WAL bytes per row.

Autovacuum is off on the backfilled table unless ``--autovacuum on``: when it
starts within a run is down to its 1-minute naptime, and the runner waits for it
(``pause_on_vacuum``) where the single UPDATE does not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from expandctl.engine.backfill import run_backfill
from expandctl.model.backfill import BackfillSpec
from expandctl.model.config import Settings

DB = "expandctl_backfill_bench"
SET = "lower(email)"
WHERE = "email_norm IS DISTINCT FROM lower(email)"
PGBENCH_SCRIPT = """\\set id random(1, :rows)
BEGIN;
SELECT email, name FROM {table} WHERE id = :id;
UPDATE {table} SET updated_at = now() WHERE id = :id;
END;
"""
# --load-table other: the same load on an identical table the backfill never
# touches. Its latency then shows what the backfill costs the rest of the
# server (CPU, WAL, I/O) without any row-lock waits.
OTHER_TABLE = "users_other"
METHODS = {
    "a": "single UPDATE",
    "b": "naive 1000-id ranges",
    "c": "pgroll-style 1000 FOR NO KEY UPDATE",
    "d": "expandctl runner",
    "e": "expandctl runner, target_batch_ms=100 (default)",
    "f": "expandctl, 2 workers",
    "g": "expandctl, 4 workers",
}


@dataclass
class Run:
    method: str
    load: bool
    rep: int
    rows: int = 0
    seconds: float = 0.0
    batch_ms: list[float] = field(default_factory=list)
    wal_bytes: int = 0
    max_lock_wait_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    load_coverage: float = 1.0  # share of the backfill that had pgbench running

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# -- the table ---------------------------------------------------------------------


def create_template(conn: psycopg.Connection[Any], rows: int) -> None:
    conn.execute("DROP TABLE IF EXISTS users_template")
    conn.execute(
        "CREATE TABLE users_template AS SELECT g::bigint AS id,"
        " 'User.' || g || '@Example.COM' AS email, 'name ' || g AS name,"
        " now() AS updated_at FROM generate_series(1, %s) AS g",
        (rows,),
    )


def create_other_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {OTHER_TABLE}")
    conn.execute(f"CREATE TABLE {OTHER_TABLE} AS SELECT * FROM users_template")
    conn.execute(f"ALTER TABLE {OTHER_TABLE} ADD PRIMARY KEY (id)")
    conn.execute(f"VACUUM (ANALYZE) {OTHER_TABLE}")


def fresh_table(conn: psycopg.Connection[Any], autovacuum: bool = False) -> None:
    """A pristine, vacuumed copy, so every run starts from the same physical state.

    Autovacuum is off on it unless asked: whether one starts within a run is a
    matter of the 1-minute naptime, and the runner then waits for it
    (``pause_on_vacuum``) where the single UPDATE does not; with it on, two runs
    of the same method differed by seconds.
    """
    conn.execute("DROP TABLE IF EXISTS users")
    conn.execute("DROP SCHEMA IF EXISTS expandctl CASCADE")
    conn.execute(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text,"
        " updated_at timestamptz, email_norm text)"
    )
    if not autovacuum:
        conn.execute("ALTER TABLE users SET (autovacuum_enabled = false)")
    conn.execute("INSERT INTO users (id, email, name, updated_at) SELECT * FROM users_template")
    conn.execute("VACUUM (ANALYZE) users")
    conn.execute("CHECKPOINT")


# -- the strategies -----------------------------------------------------------------


def method_a(dsn: str, run: Run) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        t0 = time.monotonic()
        cur = conn.execute(f"UPDATE users SET email_norm = {SET} WHERE {WHERE}")
        run.rows = cur.rowcount
        run.batch_ms.append((time.monotonic() - t0) * 1000)


def method_b(dsn: str, run: Run) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT max(id) FROM users").fetchone()
        top = int(row[0]) if row and row[0] is not None else 0
        for low in range(0, top, 1000):
            t0 = time.monotonic()
            cur = conn.execute(
                f"UPDATE users SET email_norm = {SET} WHERE id > %s AND id <= %s AND {WHERE}",
                (low, low + 1000),
            )
            run.rows += cur.rowcount
            run.batch_ms.append((time.monotonic() - t0) * 1000)


def method_c(dsn: str, run: Run) -> None:
    # pgroll's batch: lock the next keyset page of rows still to do, update them, remember
    # the last key; one statement per batch in its own transaction.
    statement = (
        "WITH batch AS (SELECT id FROM users WHERE id > %s AND " + WHERE + " ORDER BY id"
        " LIMIT 1000 FOR NO KEY UPDATE),"
        " done AS (UPDATE users u SET email_norm = " + SET + " FROM batch b"
        " WHERE u.id = b.id RETURNING u.id)"
        " SELECT max(id), count(*) FROM done"
    )
    last = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            t0 = time.monotonic()
            row = conn.execute(statement, (last,)).fetchone()
            run.batch_ms.append((time.monotonic() - t0) * 1000)
            if not row or not row[1]:
                break
            last, count = int(row[0]), int(row[1])
            run.rows += count


def method_d(dsn: str, run: Run, target_ms: int, workers: int = 1, pause_ms: int = 0) -> None:
    """The whole run_backfill, as advance calls it: setup, (split,) batches, verification."""
    spec = BackfillSpec(
        table="users",
        set={"email_norm": SET},
        where=WHERE,
        target_batch_ms=target_ms,
        workers=workers,
        pause_ms=pause_ms,
    )
    durations: list[float] = []
    result = run_backfill(
        lambda: psycopg.connect(dsn),
        schema="expandctl",
        migration_id="0001_bench",
        index=0,
        spec=spec,
        settings=Settings(),
        progress=lambda p: durations.append(p.last_batch_ms),
    )
    run.rows = result.rows_updated
    run.batch_ms = durations


# -- measuring -------------------------------------------------------------------------


class LockWaitSampler(threading.Thread):
    """Polls pg_stat_activity for the longest current lock wait in the bench database."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.max_ms = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)),"
                    " 0) * 1000 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                ).fetchone()
                self.max_ms = max(self.max_ms, float(row[0]) if row else 0.0)
                time.sleep(0.01)


class Pgbench:
    """A fixed-rate pgbench in the background, its per-transaction log kept for latencies."""

    def __init__(self, args: argparse.Namespace, dsn_url: str, seconds: int, workdir: Path):
        script = workdir / "load.sql"
        table = OTHER_TABLE if args.load_table == "other" else "users"
        script.write_text(PGBENCH_SCRIPT.format(table=table))
        self.prefix = workdir / f"pgbench_{time.monotonic_ns()}"
        self.command = [
            args.pgbench,
            "-n",
            "-f",
            str(script),
            "-D",
            f"rows={args.rows}",
            "-c",
            str(args.clients),
            "-j",
            str(min(args.clients, 2)),
            "-R",
            str(args.rate),
            "-T",
            str(seconds),
            "-l",
            f"--log-prefix={self.prefix}",
            dsn_url,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def wait(self) -> None:
        assert self.process is not None
        _, err = self.process.communicate()
        if self.process.returncode != 0:
            raise SystemExit(f"pgbench failed: {err.decode(errors='replace')}")

    def latencies(self, start: float | None = None, end: float | None = None) -> list[float]:
        """Latency (ms, from the scheduled start) of transactions overlapping [start, end]."""
        out: list[float] = []
        for log in self.prefix.parent.glob(self.prefix.name + ".*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                latency_us = int(parts[2])
                finished = int(parts[4]) + int(parts[5]) / 1e6
                began = finished - latency_us / 1e6
                if start is not None and end is not None and (finished < start or began > end):
                    continue
                out.append(latency_us / 1000)
        return out


def loadavg() -> str:
    """Other processes on the machine skew every figure: show how busy it was."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def wal_lsn(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").fetchone()
    return int(row[0]) if row else 0


def one_run(
    args: argparse.Namespace,
    admin: psycopg.Connection[Any],
    dsn: str,
    url: str,
    method: str,
    load_seconds: int | None,
    rep: int,
    workdir: Path,
) -> Run:
    run = Run(method=method, load=load_seconds is not None, rep=rep)
    pause = args.workers_pause_ms if load_seconds is not None else 0
    fresh_table(admin, args.autovacuum == "on")
    actions: dict[str, Callable[[], None]] = {
        "a": lambda: method_a(dsn, run),
        "b": lambda: method_b(dsn, run),
        "c": lambda: method_c(dsn, run),
        "d": lambda: method_d(dsn, run, args.target_ms),
        "e": lambda: method_d(dsn, run, 100),
        "f": lambda: method_d(dsn, run, args.workers_target_ms, 2, pause),
        "g": lambda: method_d(dsn, run, args.workers_target_ms, 4, pause),
    }
    pgbench = Pgbench(args, url, load_seconds, workdir) if load_seconds else None
    if pgbench:
        pgbench.start()
        time.sleep(args.warmup)
    sampler = LockWaitSampler(dsn)
    sampler.start()
    wal_before = wal_lsn(admin)
    t0_wall, t0 = time.time(), time.monotonic()
    actions[method]()
    run.seconds = time.monotonic() - t0
    t1_wall = time.time()
    run.wal_bytes = wal_lsn(admin) - wal_before
    sampler.stop.set()
    sampler.join()
    run.max_lock_wait_ms = sampler.max_ms
    if pgbench:
        pgbench.wait()
        pgbench_end = t0_wall - args.warmup + load_seconds
        run.load_coverage = min(1.0, max(0.0, (pgbench_end - t0_wall) / max(run.seconds, 1e-6)))
        run.latencies_ms = pgbench.latencies(t0_wall, t1_wall)
    remaining = admin.execute(f"SELECT count(*) FROM users WHERE {WHERE}").fetchone()
    if remaining and remaining[0]:
        raise SystemExit(f"method {method} left {remaining[0]} rows undone")
    latency = (
        f", load p99 {pct(run.latencies_ms, 0.99):.2f} ms max {max(run.latencies_ms):.0f} ms,"
        f" lock wait max {run.max_lock_wait_ms:.0f} ms"
        if run.latencies_ms
        else ""
    )
    print(
        f"  {method} {'load' if run.load else 'idle'} rep {rep}: {run.rows} rows"
        f" in {run.seconds:.1f}s = {run.rows_per_second:,.0f} rows/s{latency}"
        f" (load average {loadavg()})",
        flush=True,
    )
    return run


# -- reporting ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(runs: list[Run], baseline: list[float]) -> list[dict[str, Any]]:
    table: list[dict[str, Any]] = []
    ceiling = {
        load: statistics.median(
            r.rows_per_second for r in runs if r.method == "a" and r.load == load
        )
        for load in (False, True)
        if any(r.method == "a" and r.load == load for r in runs)
    }
    for load in (False, True):
        for method in METHODS:
            group = [r for r in runs if r.method == method and r.load == load]
            if not group:
                continue
            rps = statistics.median(r.rows_per_second for r in group)
            lat = [x for r in group for x in r.latencies_ms]
            batches = [x for r in group for x in r.batch_ms]
            table.append(
                {
                    "method": f"({method}) {METHODS[method]}",
                    "load": load,
                    "rows_per_second": rps,
                    "ratio_to_a": rps / ceiling[load] if ceiling.get(load) else float("nan"),
                    "ratio_to_a_idle": rps / ceiling[False] if ceiling.get(False) else float("nan"),
                    "seconds": statistics.median(r.seconds for r in group),
                    "batch_ms_median": statistics.median(batches) if batches else float("nan"),
                    "batch_ms_max": max(batches, default=float("nan")),
                    "p50_ms": pct(lat, 0.50) if load else None,
                    "p99_ms": pct(lat, 0.99) if load else None,
                    "max_ms": max(lat, default=float("nan")) if load else None,
                    "p99_vs_baseline": pct(lat, 0.99) / pct(baseline, 0.99) if load else None,
                    "max_lock_wait_ms": max(r.max_lock_wait_ms for r in group),
                    "wal_bytes_per_row": statistics.median(
                        r.wal_bytes / r.rows for r in group if r.rows
                    ),
                    "load_coverage": min(r.load_coverage for r in group),
                }
            )
    return table


def render(table: list[dict[str, Any]], baseline: list[float]) -> str:
    def f(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [
        f"baseline (pgbench alone): p50 {pct(baseline, 0.5):.2f} ms, p99 {pct(baseline, 0.99):.2f}"
        f" ms, max {max(baseline, default=float('nan')):.2f} ms, {len(baseline)} transactions",
        "",
        "| method | load | rows/s | x (a) | x (a) idle | batch ms median / max | load p50 / p99 /"
        " max ms | p99 x baseline | longest lock wait ms | WAL bytes/row |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table:
        lines.append(
            f"| {row['method']} | {'yes' if row['load'] else 'no'} | {row['rows_per_second']:,.0f}"
            f" | {row['ratio_to_a']:.2f} | {row['ratio_to_a_idle']:.2f}"
            f" | {row['batch_ms_median']:.1f} / {row['batch_ms_max']:.0f}"
            f" | {f(row['p50_ms'], '.2f')} / {f(row['p99_ms'], '.2f')} / {f(row['max_ms'], '.0f')}"
            f" | {f(row['p99_vs_baseline'], '.2f')} | {row['max_lock_wait_ms']:.0f}"
            f" | {row['wal_bytes_per_row']:.0f} |"
        )
    return "\n".join(lines)


def check_targets(table: list[dict[str, Any]]) -> list[str]:
    by = {(r["method"][1], r["load"]): r for r in table}
    verdicts = _worker_targets(by)
    d = by.get(("d", True))
    if d is None:
        return [f"{'PASS' if ok else 'MISS'}  {name}" for name, ok in verdicts]
    verdicts += [
        ("(d) p99 <= 3x no-backfill baseline", (d["p99_vs_baseline"] or 99) <= 3.0),
        ("(d) no lock wait above 100 ms", d["max_lock_wait_ms"] <= 100.0),
    ]
    if by.get(("a", True)) and by.get(("a", False)):  # the ratios need (a) in this run
        verdicts[:0] = [
            ("(d) under load >= 0.85x (a) under load", d["ratio_to_a"] >= 0.85),
            ("(d) under load >= 0.85x (a) without load", d["ratio_to_a_idle"] >= 0.85),
        ]
    for other in ("b", "c"):
        o = by.get((other, True))
        if o:
            verdicts.append(
                (
                    f"(d) ahead of ({other}) in rows/s at equal or lower p99",
                    d["rows_per_second"] > o["rows_per_second"] and d["p99_ms"] <= o["p99_ms"],
                )
            )
    return [f"{'PASS' if ok else 'MISS'}  {name}" for name, ok in verdicts]


def _worker_targets(by: dict[tuple[str, bool], dict[str, Any]]) -> list[tuple[str, bool]]:
    """Issue 14: workers alone >= 1.2x (a) alone; under load p99 <= 3x the baseline."""
    verdicts: list[tuple[str, bool]] = []
    for method in ("f", "g"):
        alone, loaded = by.get((method, False)), by.get((method, True))
        if alone and by.get(("a", False)):
            verdicts.append((f"({method}) alone >= 1.2x (a) alone", alone["ratio_to_a"] >= 1.2))
        if loaded:
            verdicts.append(
                (
                    f"({method}) under load p99 <= 3x no-backfill baseline",
                    (loaded["p99_vs_baseline"] or 99) <= 3.0,
                )
            )
    return verdicts


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=2_000_000, help="table size")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per method and load")
    parser.add_argument("--methods", default="abcdefg", help="subset of abcdefg")
    parser.add_argument("--rate", type=int, default=200, help="pgbench transactions per second")
    parser.add_argument("--clients", type=int, default=4, help="pgbench clients")
    parser.add_argument("--target-ms", type=int, default=20, help="(d) target_batch_ms")
    parser.add_argument("--workers-target-ms", type=int, default=20, help="(f)/(g) target_batch_ms")
    parser.add_argument(
        "--workers-pause-ms",
        type=int,
        default=0,
        help="(f)/(g) pause_ms under load (alone they never pause)",
    )
    parser.add_argument("--baseline-seconds", type=int, default=15, help="per repetition")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before start")
    parser.add_argument("--no-load", action="store_true", help="skip the pgbench runs")
    parser.add_argument(
        "--load-table",
        choices=("same", "other"),
        default="same",
        help="pgbench on the backfilled table (default), or on an identical untouched one",
    )
    parser.add_argument(
        "--autovacuum",
        choices=("off", "on"),
        default="off",
        help="autovacuum on the backfilled table (off: runs do not depend on when it starts)",
    )
    parser.add_argument("--pgbench", default="/usr/bin/pgbench")
    parser.add_argument("--json", type=Path, help="also write all runs and the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    admin_dsn = make_conninfo(args.dsn)
    dsn = make_conninfo(args.dsn, dbname=DB)
    url = args.dsn.rsplit("/", 1)[0] + "/" + DB
    with psycopg.connect(admin_dsn, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{DB}"')
        server.execute(f'CREATE DATABASE "{DB}"')
        version = str(server.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()};"
        f" PostgreSQL {version}; {args.rows:,} rows; {args.reps} reps;"
        f" load {args.rate} tps x {args.clients} clients on the {args.load_table} table",
        flush=True,
    )
    runs: list[Run] = []
    baseline: list[float] = []
    try:
        with (
            psycopg.connect(dsn, autocommit=True) as admin,
            tempfile.TemporaryDirectory() as tmp,
        ):
            workdir = Path(tmp)
            create_template(admin, args.rows)
            if args.load_table == "other":
                create_other_table(admin)
            idle_seconds: dict[str, float] = {}
            for rep in range(1, args.reps + 1):
                if not args.no_load:
                    # a baseline in every repetition: the machine's background load drifts
                    fresh_table(admin, args.autovacuum == "on")
                    pgbench = Pgbench(args, url, args.baseline_seconds, workdir)
                    pgbench.start()
                    pgbench.wait()
                    latencies = pgbench.latencies()
                    baseline.extend(latencies)
                    print(
                        f"  baseline rep {rep}: {len(latencies)} transactions,"
                        f" p99 {pct(latencies, 0.99):.2f} ms, load average {loadavg()}",
                        flush=True,
                    )
                for method in args.methods:
                    run = one_run(args, admin, dsn, url, method, None, rep, workdir)
                    runs.append(run)
                    idle_seconds[method] = max(idle_seconds.get(method, 0.0), run.seconds)
                    if args.no_load:
                        continue
                    # pgbench cannot be stopped early without losing its log: size its run
                    # to outlast the backfill (which the load slows down).
                    seconds = int(args.warmup + 3 * idle_seconds[method] + 10)
                    runs.append(one_run(args, admin, dsn, url, method, seconds, rep, workdir))
    finally:
        if not args.keep:
            with psycopg.connect(admin_dsn, autocommit=True) as server:
                server.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    table = summarise(runs, baseline)
    print()
    print(render(table, baseline))
    print()
    for verdict in check_targets(table):
        print(verdict)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [
                        asdict(r)
                        | {
                            "latencies_ms": None,
                            "p99_ms": pct(r.latencies_ms, 0.99) if r.latencies_ms else None,
                        }
                        for r in runs
                    ],
                    "summary": table,
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
