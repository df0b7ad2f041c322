"""A content-hash cache of lint results, so an unchanged input is not linted again.

Like ruff's: an entry's key is a SHA-256 over everything the result depends on
(the inputs' bytes, the effective settings, the expandctl version and a
fingerprint of the linter's code and parser), never over timestamps. A key
that matches is therefore a result that linting again would reproduce.

This module is deliberately light (standard library only): a cache hit must
not import the parser, the rules or pydantic.

Entries live under ``<project>/.expandctl/cache/lint/`` (or
``$EXPANDCTL_CACHE_DIR``), one file per key. Safety:

- writes go to a temporary file in the same folder and are renamed into
  place (``os.replace`` is atomic), so concurrent runs see a whole entry
  or none; two runs writing the same key write the same bytes;
- every entry carries its key and a SHA-256 of its payload: a truncated,
  edited or unreadable entry is a miss (linted again), never an error and
  never a result;
- the folder is bounded: after a run that wrote entries, the least recently
  used entries (hits refresh the mtime) are removed beyond ``max_bytes``;
- any OSError (read-only checkout, full disk) turns the cache off for that
  operation, not the lint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import expandctl

CACHE_FORMAT = 1
CACHE_DIR_ENV = "EXPANDCTL_CACHE_DIR"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_HEADER = b"expandctl-lint-cache"
_SUFFIX = ".entry"
# Third-party code whose upgrade can change findings: the parser (and the
# syntax checker, when installed). Their files' sizes and mtimes are keyed.
_ANALYSIS_PACKAGES = ("sqlglot", "sqlglotrs", "pglast")


def default_cache_dir(project_root: Path) -> Path:
    """``$EXPANDCTL_CACHE_DIR`` or ``<project_root>/.expandctl/cache/lint``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return project_root / ".expandctl" / "cache" / "lint"


def digest(*parts: object) -> str:
    """SHA-256 of ``parts``, each length-prefixed so no two part lists collide."""
    sha = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        sha.update(len(data).to_bytes(8, "big"))
        sha.update(data)
    return sha.hexdigest()


def code_fingerprint() -> str:
    """Which linter is running: expandctl's version, the size and mtime of every
    file of the package, and the installed versions of the parser packages.

    Stats, not contents, to stay cheap on every run; an upgrade, a reinstall
    or an edit changes them. (A change that keeps both size and mtime is not
    seen: ``--no-cache`` is the way out.)
    """
    listing: list[object] = [expandctl.__version__, CACHE_FORMAT]
    package = Path(expandctl.__file__).parent
    listing.append(str(package))
    listing.extend(_tree_stats(package))
    for name in _ANALYSIS_PACKAGES:
        listing.append(name)
        listing.extend(_installed(name))
    return digest(*listing)


def _installed(name: str) -> list[object]:
    """An installed package's ``*.dist-info`` (its version, and its RECORD's
    stat, rewritten by every install); its files' stats when it has none."""
    spec = find_spec(name)  # finds the package without importing it
    if spec is None or not spec.origin:
        return []
    package = Path(spec.origin).parent
    try:
        infos = sorted(
            entry
            for entry in os.listdir(package.parent)
            if entry.startswith(f"{name}-") and entry.endswith(".dist-info")
        )
    except OSError:
        infos = []
    found: list[object] = []
    for info in infos:
        try:
            record = os.stat(package.parent / info / "RECORD")
        except OSError:
            continue
        found.append((info, record.st_size, record.st_mtime_ns))
    return found or _tree_stats(package)


def _tree_stats(root: Path) -> list[object]:
    found: list[object] = []
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name == "__pycache__" or entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.endswith((".py", ".so", ".pyd")):
                info = entry.stat()
                found.append((entry.path, info.st_size, info.st_mtime_ns))
    return found


def file_digest(path: Path) -> str | None:
    """SHA-256 of a regular file's bytes; None when it is not one (a FIFO is
    never opened) or cannot be read: such an input is not cacheable."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def folder_digest(folder: Path) -> str | None:
    """SHA-256 over every entry of a migration folder: names, kinds and bytes.

    Every entry counts (notes too), so an unexpected file, a sub-folder or a
    FIFO changes the key as it changes what the loader says. None when a
    non-regular entry or an unreadable one makes the folder not cacheable.
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    parts: list[object] = []
    for name in names:
        content = file_digest(folder / name)
        if content is None:
            return None
        parts.append((name, content))
    return digest(*parts)


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
    """One folder of entries; ``get``/``put`` JSON-able values by key."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._serial = 0
        self._made: set[Path] = set()  # shard folders known to exist

    def _path(self, key: str) -> Path:
        # 16 folders by the key's first hex digit. With 256 (two digits, as git
        # does) a cold run of 500 files created ~250 folders of two entries each,
        # and ext4 spent about twice the system time on the first entries of
        # new folders: 0.1 s on a 2-core machine (docs/performance.md). A 64 MB
        # cache of ~4 KB entries is ~1,000 entries a folder, fine for any
        # filesystem's directory index. Entries of the old layout are never
        # found; they count toward max_bytes and are pruned first (the oldest).
        return self.directory / key[:1] / f"{key}{_SUFFIX}"

    def get(self, key: str, *, count: bool = True) -> Any | None:
        """The value stored under ``key``, or None (absent, corrupt, unreadable)."""
        path = self._path(key)
        value = self._read(path, key)
        if count:
            if value is None:
                self.stats.misses += 1
            else:
                self.stats.hits += 1
        if value is not None:
            with contextlib.suppress(OSError):  # recently used: pruned last
                os.utime(path)
        return value

    @staticmethod
    def _read(path: Path, key: str) -> Any | None:
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        header, newline, payload = raw.partition(b"\n")
        fields = header.split(b" ")
        if not newline or len(fields) != 4 or fields[0] != _HEADER:
            return None
        if fields[1] != str(CACHE_FORMAT).encode() or fields[2] != key.encode():
            return None
        if fields[3] != hashlib.sha256(payload).hexdigest().encode():
            return None
        try:
            return json.loads(payload)
        except ValueError:
            return None

    def put(self, key: str, value: Any) -> None:
        payload = json.dumps(value, separators=(",", ":")).encode()
        checksum = hashlib.sha256(payload).hexdigest()
        header = b" ".join([_HEADER, str(CACHE_FORMAT).encode(), key.encode(), checksum.encode()])
        path = self._path(key)
        # unique per process and write: no other run ever opens this name
        self._serial += 1
        temporary = path.parent / f".tmp-{os.getpid()}-{self._serial}"
        try:
            self._ensure_folder(path.parent)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(header + b"\n" + payload)
                os.replace(temporary, path)  # atomic: readers see all or nothing
            except BaseException:
                _unlink(temporary)
                raise
        except OSError:
            return  # a read-only or full disk: lint without caching
        self.stats.writes += 1

    def _ensure_folder(self, shard: Path) -> None:
        if shard in self._made:
            return
        ignore = self.directory / ".gitignore"
        if not ignore.is_file():
            self.directory.mkdir(parents=True, exist_ok=True)
            # Never committed by accident, wherever the folder is (as ruff does).
            ignore.write_text("*\n", encoding="utf-8")
        shard.mkdir(exist_ok=True)
        self._made.add(shard)

    def prune(self) -> int:
        """Remove least recently used entries until at most ``max_bytes`` remain
        (down to 80 % of it, so the next runs do not prune again); the count."""
        entries: list[tuple[int, int, Path]] = []
        total = 0
        try:
            shards = list(os.scandir(self.directory))
        except OSError:
            return 0
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False):
                continue
            try:
                files = list(os.scandir(shard.path))
            except OSError:
                continue
            for entry in files:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append((info.st_mtime_ns, info.st_size, Path(entry.path)))
                total += info.st_size
        if total <= self.max_bytes:
            return 0
        removed = 0
        for _, size, path in sorted(entries):
            if total <= self.max_bytes * 0.8:
                break
            _unlink(path)
            total -= size
            removed += 1
        return removed


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):  # another run removed it first
        path.unlink()
