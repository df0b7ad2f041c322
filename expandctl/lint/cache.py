"""A content-hash cache of lint results, so an unchanged input is not linted again.

Like ruff's: an entry's key is a SHA-256 over everything the result depends on
(the inputs' bytes, the effective settings, the expandctl version and a
fingerprint of the linter's code and parser), never over timestamps. A key
that matches is therefore a result that linting again would reproduce.

This module is deliberately light (standard library only): a cache hit must
not import the parser, the rules or pydantic.

Entries live in one SQLite file under ``<project>/.expandctl/cache/lint/``
(or ``$EXPANDCTL_CACHE_DIR``): ``cache_store`` says how it stays safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from importlib.util import find_spec
from pathlib import Path

import expandctl
from expandctl.lint.cache_store import CACHE_FORMAT, CacheStats, LintCache

__all__ = [
    "CacheStats",
    "LintCache",
    "code_fingerprint",
    "default_cache_dir",
    "digest",
    "file_digest",
    "folder_digest",
]

CACHE_DIR_ENV = "EXPANDCTL_CACHE_DIR"
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # swapped for a FIFO after the stat: never block
_READ_SIZE = 1 << 20
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
    # os-level I/O: a buffered open() costs three more system calls a file, and a
    # cold run of 500 files digests every one of them before linting any.
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    except OSError:
        return None
    try:
        sha = hashlib.sha256()
        while chunk := os.read(fd, _READ_SIZE):
            sha.update(chunk)
        return sha.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


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
