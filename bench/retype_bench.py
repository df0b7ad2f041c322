"""How long clients wait: retype_column's swap vs a plain ALTER COLUMN ... TYPE bigint.

One command::

    .venv/bin/python bench/retype_bench.py                  # 300,000 accounts, 300,000 orders
    .venv/bin/python bench/retype_bench.py --rows 2000000 --clients 8

It creates (and finally drops) its own database on the local PostgreSQL
(``--dsn``, default ``postgresql://postgres@127.0.0.1:5432/postgres``), with
``accounts(id serial primary key, email, note)`` and ``orders(account_id
integer references accounts, indexed)``, and while ``--clients`` threads read,
update and insert accounts and orders (ids from the default, no server-side
prepared statements) it widens ``accounts.id`` and ``orders.account_id`` to
bigint two ways, each on a fresh copy:

  (a) plain: ``ALTER TABLE orders ALTER COLUMN account_id TYPE bigint`` and
      ``ALTER TABLE accounts ALTER COLUMN id TYPE bigint`` in one transaction
      (what a one-step migration does: a rewrite of both tables and their indexes);
  (b) expandctl: the retype_column operation through ``advance`` phase by phase.

It reports, per step, how long the step took and the longest single client
request during it (the lock wait a user would see), plus client errors, and
the ratio of the two longest waits.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from expandctl.commands.advance import advance
from expandctl.model.config import ResolvedConfig, Settings
from expandctl.model.phases import PHASES
from tests.operations.support import manifest

DB = "expandctl_retype_bench"
SCHEMA = """
CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL, note text);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id integer NOT NULL REFERENCES accounts (id),
    note text
);
INSERT INTO accounts (email) SELECT 'a' || g || '@example.com' FROM generate_series(1, {rows}) g;
INSERT INTO orders (account_id) SELECT 1 + g % {rows} FROM generate_series(1, {rows}) g;
CREATE INDEX orders_account_id_idx ON orders (account_id);
ANALYZE accounts, orders;
"""
OPERATION: dict[str, Any] = {
    "op": "retype_column",
    "table": "accounts",
    "column": "id",
    "from_type": "integer",
    "type": "bigint",
    "primary_key": "accounts_pkey",
    "sequence": "accounts_id_seq",
    "referenced_by": [
        {"table": "orders", "column": "account_id", "not_null": True,
         "indexes": ["orders_account_id_idx"]},
    ],
}  # fmt: skip


@dataclass
class Clients:
    """Threads issuing single-row requests; the longest request per window is the wait."""

    dsn: str
    rows: int
    count: int
    slowest_ms: float = 0.0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Clients:
        for n in range(self.count):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def take_slowest(self) -> float:
        with self._lock:
            slowest, self.slowest_ms = self.slowest_ms, 0.0
        return slowest

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.prepare_threshold = None
            while not self._stop.is_set():
                key = rng.randint(1, self.rows)
                started = time.monotonic()
                try:
                    pick = rng.random()
                    if pick < 0.4:
                        conn.execute("SELECT email FROM accounts WHERE id = %s", [key]).fetchone()
                    elif pick < 0.7:
                        conn.execute("UPDATE accounts SET note = 'n' WHERE id = %s", [key])
                    elif pick < 0.85:
                        conn.execute("INSERT INTO accounts (email) VALUES ('new@x')")
                    else:
                        conn.execute("INSERT INTO orders (account_id) VALUES (%s)", [key])
                except psycopg.Error as exc:
                    self.errors.append(str(exc).splitlines()[0])
                elapsed = (time.monotonic() - started) * 1000
                with self._lock:
                    self.requests += 1
                    self.slowest_ms = max(self.slowest_ms, elapsed)
                time.sleep(0.002)


def database_dsn(admin: str, name: str) -> str:
    return make_conninfo(admin, dbname=name)


def fresh_database(admin: str, rows: int) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    dsn = database_dsn(admin, DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA.format(rows=rows))  # type: ignore[arg-type]
    return dsn


def timed(clients: Clients, action: Any) -> tuple[float, float]:
    """(seconds the action took, longest client request during it in ms)."""
    clients.take_slowest()
    started = time.monotonic()
    action()
    return time.monotonic() - started, clients.take_slowest()


def plain(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("ALTER TABLE orders ALTER COLUMN account_id TYPE bigint")
        conn.execute("ALTER TABLE accounts ALTER COLUMN id TYPE bigint")
        conn.execute("ALTER SEQUENCE accounts_id_seq AS bigint")


def url(dsn: str) -> str:
    parts = conninfo_to_dict(dsn)
    return (
        f"postgresql://{parts.get('user', 'postgres')}@{parts.get('host', '127.0.0.1')}:"
        f"{parts.get('port', 5432)}/{parts['dbname']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(f"rows: {args.rows:,} accounts + {args.rows:,} orders; clients: {args.clients}")
    print(f"{'method':<10} {'step':<16} {'took s':>8} {'longest wait ms':>16} {'errors':>7}")
    results: dict[str, float] = {}

    dsn = fresh_database(args.dsn, args.rows)
    with Clients(dsn, args.rows, args.clients) as clients:
        time.sleep(1)
        took, wait = timed(clients, lambda: plain(dsn))
        print(
            f"{'plain':<10} {'ALTER TYPE':<16} {took:>8.2f} {wait:>16.0f} {len(clients.errors):>7}"
        )
        results["plain"] = wait

    dsn = fresh_database(args.dsn, args.rows)
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "migrations" / "0001_widen_account_ids"
        folder.mkdir(parents=True)
        (folder / "migration.toml").write_text(manifest([OPERATION]), encoding="utf-8")
        config = ResolvedConfig(
            settings=Settings(lock_timeout=timedelta(seconds=1)),
            project_root=root,
            source=None,
            database_url=url(dsn),
        )
        with Clients(dsn, args.rows, args.clients) as clients:
            time.sleep(1)
            for phase in PHASES:
                took, wait = timed(
                    clients,
                    lambda p=phase: advance(config, "0001_widen_account_ids", to=p, yes=True),
                )
                print(
                    f"{'expandctl':<10} {phase.value:<16} {took:>8.2f} {wait:>16.0f}"
                    f" {len(clients.errors):>7}"
                )
                results[phase.value] = wait
            requests = clients.requests
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
    swap = results["switch-writes"]
    worst = max(v for k, v in results.items() if k != "plain")
    print(
        f"longest wait: plain ALTER {results['plain']:.0f} ms; expandctl swap {swap:.0f} ms"
        f" (worst phase {worst:.0f} ms); plain / swap = {results['plain'] / max(swap, 1):.1f}x"
        f"; {requests:,} client requests during expandctl's phases"
    )


if __name__ == "__main__":
    main()
