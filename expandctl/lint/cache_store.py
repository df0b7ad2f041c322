"""Where the lint cache keeps its entries: one SQLite file per cache folder.

One file, not one file per entry: a cold run of 500 files created 500 files
(a temporary file and a rename each), and on ext4 that cost 0.1-0.25 s of
mostly system time, more than linting a quarter of the files
(docs/performance.md). SQLite writes them in one transaction.

Safety, as before:

- concurrent runs (parallel CI jobs, pre-commit and an editor) share the file
  through SQLite's locking (a run waits up to 10 s for another's write
  transaction, a few milliseconds long), and two runs writing the same key
  write the same bytes;
- every entry carries a SHA-256 of its key and payload: an edited, moved or
  unreadable entry is a miss (linted again), never an error and never a
  result; a file that is not a database, or a damaged one, is set aside and
  started afresh;
- the store is bounded: after a run that wrote entries, the least recently
  used entries (a hit refreshes its entry) are removed beyond ``max_bytes``;
- any SQLite or OS error (read-only checkout, full disk, a lock held too long)
  turns the cache off for the rest of the run, never the lint.

Writes wait in memory until ``close`` (one transaction for the whole run); a
run that dies before it loses its entries, not its results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

CACHE_FORMAT = 2  # 1: a file per entry (earlier versions)
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DATABASE_NAME = "lint-cache.sqlite3"
_BUSY_TIMEOUT_S = 10.0  # another run's write transaction: ours waits, then gives up
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries ("
    " key TEXT PRIMARY KEY, format INTEGER NOT NULL, checksum TEXT NOT NULL,"
    " payload BLOB NOT NULL, size INTEGER NOT NULL, used INTEGER NOT NULL"
    ") WITHOUT ROWID"
)
# The old layout's folders: one or two hex digits holding <key>.entry files.
_OLD_SHARD = re.compile(r"[0-9a-f]{1,2}")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    report_hit: bool = False

    def line(self) -> str:
        if self.report_hit:
            return "lint cache: report hit (nothing linted, nothing rendered)"
        return f"lint cache: {self.hits} hit(s), {self.misses} miss(es), {self.writes} written"


class LintCache:
    """One cache folder; ``get``/``put`` JSON-able values by key, ``close`` to write."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._db: sqlite3.Connection | None = None
        self._pid = 0  # the process that opened _db: a forked child never uses it
        self._off = False  # an error turned the cache off for the rest of the run
        self._absent = False  # no database yet: reads find nothing, create nothing
        self._pending: dict[str, tuple[str, bytes, int]] = {}  # key -> checksum, payload, used
        self._used: dict[str, int] = {}  # hits whose entries are refreshed on close
        self._clock = 0

    @property
    def path(self) -> Path:
        return self.directory / DATABASE_NAME

    def get(self, key: str, *, count: bool = True) -> Any | None:
        """The value stored under ``key``, or None (absent, corrupt, unreadable)."""
        value = self._lookup(key)
        if count:
            if value is None:
                self.stats.misses += 1
            else:
                self.stats.hits += 1
        return value

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (written by ``close``)."""
        self.put_bytes(key, json.dumps(value, separators=(",", ":")).encode())

    def get_bytes(self, key: str) -> bytes | None:
        """What ``put_bytes`` stored under ``key``; not counted as a hit or miss.

        For a rendered report (megabytes of text): encoding it as a JSON string
        cost more than writing it."""
        return self._lookup(key, decode=False)

    def put_bytes(self, key: str, payload: bytes) -> None:
        self._pending[key] = (_checksum(key, payload), payload, self._tick())

    def close(self) -> None:
        """Write this run's entries and refresh its hits, in one transaction; then
        prune the store if anything was written. Safe to call more than once."""
        if self._pending or self._used:
            wrote = self._write()
            if wrote:
                self.prune()
        self._drop_connection()

    def prune(self) -> int:
        """Remove least recently used entries until at most ``max_bytes`` remain
        (down to 80 % of it, so the next runs do not prune again); the count."""
        db = self._open(create=False)
        if db is None:
            return 0
        try:
            total = db.execute("SELECT coalesce(sum(size), 0) FROM entries").fetchone()[0]
            if total <= self.max_bytes:
                return 0
            doomed: list[tuple[str]] = []
            for key, size in db.execute("SELECT key, size FROM entries ORDER BY used, key"):
                if total <= self.max_bytes * 0.8:
                    break
                doomed.append((key,))
                total -= size
            with _transaction(db):
                db.executemany("DELETE FROM entries WHERE key = ?", doomed)
            db.execute("PRAGMA incremental_vacuum")  # give the freed pages back
        except _errors() as exc:
            self._fail(exc)
            return 0
        return len(doomed)

    # --- internals ---

    def _tick(self) -> int:
        # strictly increasing within a run, so "least recently used" is exact
        self._clock = max(time.time_ns(), self._clock + 1)
        return self._clock

    def _lookup(self, key: str, *, decode: bool = True) -> Any | None:
        pending = self._pending.get(key)
        if pending is not None:
            return _decoded(pending[1]) if decode else pending[1]
        db = self._open(create=False)
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT format, checksum, payload FROM entries WHERE key = ?", (key,)
            ).fetchone()
        except _errors() as exc:
            self._fail(exc)
            return None
        if row is None:
            return None
        payload = _payload(key, row)
        if payload is None:
            return None
        value = _decoded(payload) if decode else payload
        if value is not None:
            self._used[key] = self._tick()
        return value

    def _write(self) -> bool:
        db = self._open(create=bool(self._pending))
        if db is None:
            return False
        rows = [
            (key, CACHE_FORMAT, checksum, payload, len(key) + len(payload), used)
            for key, (checksum, payload, used) in self._pending.items()
        ]
        try:
            with _transaction(db):
                db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)", rows)
                db.executemany(
                    "UPDATE entries SET used = ? WHERE key = ?",
                    [(used, key) for key, used in self._used.items()],
                )
        except _errors() as exc:
            self._fail(exc)
            return False
        self.stats.writes += len(rows)
        self._pending.clear()
        self._used.clear()
        return bool(rows)

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        """The connection, opened on first use; None when the cache is off, or
        when there is no database yet and ``create`` is false."""
        if self._off:
            return None
        if self._db is not None:
            if self._pid == os.getpid():
                return self._db
            self._db = None  # inherited through fork: the parent's, never ours
        if not create and (self._absent or not self.path.is_file()):
            self._absent = True
            return None
        try:
            self._db = _connect(self.directory, self.path, create=create)
        except _errors() as exc:
            if _damaged(exc) and create and _set_aside(self.path):
                try:  # a file that is not a database: start afresh, once
                    self._db = _connect(self.directory, self.path, create=True)
                except _errors() as again:
                    self._fail(again)
                    return None
            else:
                self._fail(exc)
                return None
        self._pid = os.getpid()
        self._absent = False
        return self._db

    def _fail(self, exc: BaseException) -> None:
        if _damaged(exc):
            _set_aside(self.path)  # the next run starts afresh; this one goes on without
        self._off = True
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):  # closing a broken handle
                self._db.close()
            self._db = None


def _connect(directory: Path, path: Path, *, create: bool) -> sqlite3.Connection:
    import sqlite3  # here: commands that never cache never import it

    fresh = not path.exists()
    if create and fresh:
        _prepare_folder(directory)
    db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    try:
        if fresh:
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only before the first table
        # No fsync: a cache may lose its last run's entries in a power cut. A page
        # torn by one is a damaged file (set aside) or an entry whose checksum
        # fails (a miss), never a result. The rollback journal writes each page
        # once; WAL wrote it twice (log, then checkpoint) and cost 3x the time.
        db.execute("PRAGMA synchronous = OFF")
        db.execute(_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")  # take the write lock now, not mid-way

    def __exit__(self, kind: object, exc: object, traceback: object) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        else:
            with contextlib.suppress(Exception):
                self.db.execute("ROLLBACK")


def _checksum(key: str, payload: bytes) -> str:
    # over the key too: a payload copied under another key is a miss
    return hashlib.sha256(key.encode() + b"\n" + payload).hexdigest()


def _payload(key: str, row: tuple[Any, ...]) -> bytes | None:
    """An entry's payload, if it is intact."""
    stored_format, checksum, payload = row
    if stored_format != CACHE_FORMAT or not isinstance(payload, bytes):
        return None
    if _checksum(key, payload) != checksum:
        return None
    return payload


def _decoded(payload: bytes) -> Any | None:
    try:
        return json.loads(payload)
    except ValueError:
        return None


def _errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    return (sqlite3.Error, OSError)


def _damaged(exc: BaseException) -> bool:
    return getattr(exc, "sqlite_errorname", "") in _DAMAGED


def _set_aside(path: Path) -> bool:
    """Remove a damaged database (and its journal files); whether it is gone."""
    for suffix in ("-journal", "-wal", "-shm", ""):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return True


def _prepare_folder(directory: Path) -> None:
    """Create the folder with a ``.gitignore`` (never committed by accident, as
    ruff does), and remove the entries of the old one-file-per-entry layout."""
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.is_file():
        ignore.write_text("*\n", encoding="utf-8")
    with contextlib.suppress(OSError):
        for shard in os.scandir(directory):
            if shard.is_dir(follow_symlinks=False) and _OLD_SHARD.fullmatch(shard.name):
                _remove_old_shard(Path(shard.path))


def _remove_old_shard(shard: Path) -> None:
    for entry in os.scandir(shard):
        if entry.name.endswith(".entry") or entry.name.startswith(".tmp-"):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    with contextlib.suppress(OSError):
        shard.rmdir()  # only if nothing else was in it
