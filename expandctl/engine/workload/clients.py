"""Old- and new-version application clients: threads that write, read back and record errors.

Each client owns the rows it inserted; it updates and reads only those, so
what it reads back must be exactly what it last wrote through its own shape
(a mismatch is recorded as a ``stale read`` error, like a failed statement).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

Values = tuple[Any, ...]


@dataclass(frozen=True)
class AppShape:
    """What one application version knows about one table."""

    version: str  # "old" or "new"
    table: str  # as the version names it (maybe schema-qualified: "public.users")
    columns: tuple[str, ...]  # written on insert/update and read back
    values: Callable[[int], Values]  # what it writes for sequence number n
    insert_only: dict[str, Callable[[int], Any]] = field(default_factory=dict)  # e.g. email
    key: str = "id"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(*self.table.split(".", 1))


@dataclass(frozen=True)
class ClientError:
    version: str
    client: str
    action: str  # insert, update, select, connect
    window: str  # what the migration was doing at the time
    message: str


class Timeline:
    """The label of what the migration is doing now; clients stamp their errors with it."""

    def __init__(self) -> None:
        self._label = "before"
        self._lock = threading.Lock()

    def set(self, label: str) -> None:
        with self._lock:
            self._label = label

    @property
    def label(self) -> str:
        with self._lock:
            return self._label


class Client(threading.Thread):
    """One application instance: insert, update, select in a loop while enabled."""

    def __init__(
        self,
        dsn: str,
        shape: AppShape,
        name: str,
        timeline: Timeline,
        *,
        seed: int = 0,
        think_time: float = 0.002,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.dsn = dsn
        self.shape = shape
        self.timeline = timeline
        self.think_time = think_time
        self.rng = random.Random(seed)
        self.written: dict[Any, Values] = {}  # id -> values last written by this client
        self.errors: list[ClientError] = []
        self.requests = 0
        self.slowest_ms = 0.0
        self._sequence = seed * 1_000_000
        self._enabled = threading.Event()
        self._halt = threading.Event()
        self._busy = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    # --- control, from the orchestrating thread ---

    def enable(self) -> None:
        self._enabled.set()

    def disable(self) -> None:
        """Stop issuing requests; returns once the request in flight has finished."""
        self._enabled.clear()
        with self._busy:
            pass

    def stop(self) -> None:
        self._halt.set()
        self._enabled.set()
        self.join(timeout=30)

    @property
    def enabled(self) -> bool:
        return self._enabled.is_set()

    # --- the loop ---

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self._enabled.wait()
                with self._busy:
                    if self._halt.is_set() or not self._enabled.is_set():
                        continue
                    self._one_request()
                if self.think_time:
                    time.sleep(self.think_time)
        finally:
            if self._conn is not None:
                self._conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True, application_name=self.name)
        return self._conn

    def _one_request(self) -> None:
        action = (
            "insert"
            if not self.written or self.rng.random() < 0.4
            else ("update" if self.rng.random() < 0.5 else "select")
        )
        self.request(action)

    def request(self, action: str) -> None:
        """One insert, update or select; its error, if any, is recorded. The loop calls this."""
        self.requests += 1
        started = time.monotonic()
        try:
            conn = self._connection()
            if action == "insert":
                self._insert(conn)
            elif action == "update":
                self._update(conn)
            else:
                self._select(conn)
        except psycopg.Error as exc:
            self._record(action, str(exc).strip().splitlines()[0] if str(exc) else repr(exc))
            if self._conn is not None and self._conn.broken:
                self._conn = None
        except Exception as exc:  # a bug in the client must count, not end the thread quietly
            self._record(action, f"client failure: {exc!r}")
        finally:
            self.slowest_ms = max(self.slowest_ms, (time.monotonic() - started) * 1000)

    def take_slowest(self) -> float:
        """The slowest request (ms) since the last call; a migration's lock shows up here."""
        slowest, self.slowest_ms = self.slowest_ms, 0.0
        return slowest

    def _record(self, action: str, message: str) -> None:
        self.errors.append(
            ClientError(self.shape.version, self.name, action, self.timeline.label, message)
        )

    def _next_values(self) -> tuple[int, Values]:
        self._sequence += 1
        return self._sequence, self.shape.values(self._sequence)

    def _insert(self, conn: psycopg.Connection[Any]) -> None:
        n, values = self._next_values()
        extra = {name: make(n) for name, make in self.shape.insert_only.items()}
        names = [*self.shape.columns, *extra]
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
            self.shape.ident,
            sql.SQL(", ").join(sql.Identifier(c) for c in names),
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
            sql.Identifier(self.shape.key),
        )
        row = conn.execute(query, [*values, *extra.values()]).fetchone()
        if row is not None:
            self.written[row[0]] = values

    def _update(self, conn: psycopg.Connection[Any]) -> None:
        key = self.rng.choice(list(self.written))
        _, values = self._next_values()
        query = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
            self.shape.ident,
            sql.SQL(", ").join(
                sql.SQL("{} = %s").format(sql.Identifier(c)) for c in self.shape.columns
            ),
            sql.Identifier(self.shape.key),
        )
        conn.execute(query, [*values, key])
        self.written[key] = values

    def _select(self, conn: psycopg.Connection[Any]) -> None:
        key = self.rng.choice(list(self.written))
        row = conn.execute(_select_query(self.shape), [key]).fetchone()
        if row is None:
            self._record("select", f"row {key} is gone")
        elif tuple(row) != self.written[key]:
            self._record("select", f"stale read of row {key}: {tuple(row)} != {self.written[key]}")


def _select_query(shape: AppShape) -> sql.Composed:
    return sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in shape.columns),
        shape.ident,
        sql.Identifier(shape.key),
    )


def verify_rows(
    conn: psycopg.Connection[Any], shape: AppShape, expected: dict[Any, Values]
) -> list[str]:
    """Rows whose ``shape`` columns differ from ``expected`` (missing rows included)."""
    problems: list[str] = []
    keys = list(expected)
    if not keys:
        return problems
    query = sql.SQL("SELECT {}, {} FROM {} WHERE {} = ANY(%s)").format(
        sql.Identifier(shape.key),
        sql.SQL(", ").join(sql.Identifier(c) for c in shape.columns),
        shape.ident,
        sql.Identifier(shape.key),
    )
    found = {row[0]: tuple(row[1:]) for row in conn.execute(query, [keys])}
    for key, values in expected.items():
        if key not in found:
            problems.append(f"row {key} is missing")
        elif found[key] != values:
            problems.append(f"row {key}: {found[key]} != expected {values}")
    return problems


class Workload:
    """Several clients per app version, switched on and off as versions go live."""

    def __init__(
        self,
        dsn: str,
        shapes: Sequence[AppShape],
        *,
        clients_per_version: int = 2,
        think_time: float = 0.002,
    ) -> None:
        self.timeline = Timeline()
        self.clients: list[Client] = []
        for shape in shapes:
            for i in range(clients_per_version):
                self.clients.append(
                    Client(
                        dsn,
                        shape,
                        f"{shape.version}-{i + 1}",
                        self.timeline,
                        seed=len(self.clients) + 1,
                        think_time=think_time,
                    )
                )

    def __enter__(self) -> Workload:
        for client in self.clients:
            client.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.stop()

    def of(self, version: str) -> list[Client]:
        return [c for c in self.clients if c.shape.version == version]

    def enable(self, version: str) -> None:
        for client in self.of(version):
            client.enable()

    def disable(self, version: str) -> None:
        for client in self.of(version):
            client.disable()

    def live(self, version: str) -> bool:
        return any(c.enabled for c in self.of(version))

    def requests(self, version: str | None = None) -> int:
        return sum(c.requests for c in self.clients if version in (None, c.shape.version))

    def take_slowest(self, version: str) -> float:
        """The slowest request (ms) of a version's clients since the last call."""
        return max((c.take_slowest() for c in self.of(version)), default=0.0)

    def errors(self, version: str | None = None) -> list[ClientError]:
        return [e for c in self.clients if version in (None, c.shape.version) for e in c.errors]

    def written(self, version: str) -> dict[Any, Values]:
        rows: dict[Any, Values] = {}
        for client in self.of(version):
            rows.update(client.written)
        return rows
