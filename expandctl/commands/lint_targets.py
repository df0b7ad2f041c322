"""What ``expandctl lint PATHS`` lints: migration folders, plain .sql files, stdin.

Decided from names on disk only (standard library), so that a cached run
resolves its inputs without importing the loader's models. Whether a folder
really is a valid migration is the loader's job, on a cache miss: an entry is
only ever written after the loader accepted exactly these files.

The three names below are the loader's (``loader.checksums.MANIFEST_NAME``,
``model.manifest.MIGRATION_ID``, ``model.sqlfiles.SQL_FILE_NAMES``), repeated
because those modules import pydantic; tests/lint/test_startup.py checks that
they agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from expandctl.errors import LintError

STDIN = "-"
MANIFEST_NAME = "migration.toml"
MIGRATION_ID = re.compile(r"^(?P<number>\d{4,})_(?P<slug>[a-z0-9][a-z0-9_]*)$")
SQL_FILE_NAMES: tuple[str, ...] = (
    "expand.sql",
    "switch-reads.sql",
    "switch-writes.sql",
    "contract.sql",
    "expand.down.sql",
    "switch-reads.down.sql",
    "switch-writes.down.sql",
)


@dataclass
class Targets:
    # folder -> the only files whose findings are shown (None: all of them)
    migrations: dict[str, set[Path] | None] = field(default_factory=dict)
    # folder -> the migrations directory it was found in, which the loader
    # checks as a whole (numbers, names, requires) before it is linted
    sets: dict[str, str] = field(default_factory=dict)
    # migrations directory -> its sub-folder names, part of each member's key
    listings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plain: list[Path] = field(default_factory=list)
    stdin: bool = False

    def __bool__(self) -> bool:
        return bool(self.migrations or self.plain or self.stdin)


def resolve(paths: Sequence[str], cwd: Path, *, plain_phase_given: bool) -> Targets:
    """``plain_phase_given``: with ``--phase`` a phase file is linted as plain SQL."""
    targets = Targets()
    for raw in paths:
        if raw == STDIN:
            targets.stdin = True
            continue
        path = Path(raw) if Path(raw).is_absolute() else cwd / raw
        if not path.exists():
            raise LintError(f"{raw}: no such file or directory")
        if path.is_dir():
            _add_directory(targets, path)
        elif path.name == MANIFEST_NAME:
            targets.migrations[str(path.parent)] = None  # the manifest changes every phase
        elif (
            not plain_phase_given
            and (path.parent / MANIFEST_NAME).is_file()
            and path.name in SQL_FILE_NAMES
        ):
            only = targets.migrations.setdefault(str(path.parent), set())
            if only is not None:
                only.add(path.resolve())
        else:
            targets.plain.append(path)
    return targets


def _add_directory(targets: Targets, path: Path) -> None:
    if (path / MANIFEST_NAME).is_file():
        targets.migrations[str(path)] = None
        return
    subfolders = [p for p in path.iterdir() if p.is_dir()]
    # A folder with a manifest is a migration even when misnamed: the loader says why.
    if any(MIGRATION_ID.match(p.name) or (p / MANIFEST_NAME).is_file() for p in subfolders):
        # the folders the loader reads, in its order (by number)
        members = sorted(
            (p for p in subfolders if not p.name.startswith((".", "_"))),
            key=lambda p: (_number(p.name), p.name),
        )
        targets.listings[str(path)] = tuple(sorted(p.name for p in members))
        for folder in members:
            targets.migrations[str(folder)] = None
            targets.sets[str(folder)] = str(path)
        return
    targets.plain.extend(sorted(path.rglob("*.sql")))


def _number(name: str) -> int:
    match = MIGRATION_ID.match(name)
    return int(match["number"]) if match else -1


def keep_changed(targets: Targets, changed: set[Path]) -> Targets:
    """Only the targets a changed file belongs to: a migration folder when any
    file in it changed (it is linted as a unit), a plain file when it changed."""
    kept = Targets(listings=targets.listings, stdin=targets.stdin)
    for folder, only in targets.migrations.items():
        resolved = Path(folder).resolve()
        if any(resolved in path.parents for path in changed):
            kept.migrations[folder] = only
            if folder in targets.sets:
                kept.sets[folder] = targets.sets[folder]
    kept.plain = [path for path in targets.plain if path.resolve() in changed]
    return kept
