"""Load ``migrations/NNNN_slug/`` folders into a MigrationSet, strictly.

Every problem is reported with the file (and line, where there is one) and
what to do; nothing is guessed and nothing is partially loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import ValidationError

from expandctl.errors import ConfigError, ManifestError
from expandctl.loader import manifest_checks
from expandctl.loader.checksums import MANIFEST_NAME as MANIFEST_NAME
from expandctl.loader.checksums import file_checksums, legacy_phase_checksum, phase_checksum
from expandctl.loader.files import read_text_file
from expandctl.loader.problems import problems_error
from expandctl.loader.toml_data import MAX_DEPTH, load_toml
from expandctl.loader.toml_lines import key_lines, line_of
from expandctl.loader.validation import validation_problems
from expandctl.model.manifest import MIGRATION_ID, Manifest
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES
from expandctl.model.sqlfiles import FORWARD_FILES, ROLLBACK_FILES, SQL_FILE_NAMES, SqlFile

# Notes beside the SQL are welcome; they do not affect checksums.
_IGNORED_SUFFIXES = (".md", ".txt")


def load_migrations(
    directory: Path, *, missing_requires_ok: bool = False, placeholders_ok: bool = False
) -> MigrationSet:
    """``missing_requires_ok``: a ``requires`` naming a folder that is gone is left to the
    caller, which knows from the recorded state whether it is a typo or a deleted folder.
    ``placeholders_ok``: only for ``new``, which numbers past a scaffold not filled in yet."""
    if not directory.exists():
        raise ConfigError(
            f"migrations directory {directory} does not exist",
            hint="create it with 'expandctl new SLUG' or set migrations_dir in the config",
        )
    if not directory.is_dir():
        raise ConfigError(f"migrations directory {directory} is not a directory")
    folders = sorted(
        (p for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))),
        key=lambda p: p.name,
    )
    by_number: dict[int, Path] = {}
    migrations: list[Migration] = []
    for folder in folders:
        match = MIGRATION_ID.match(folder.name)
        if not match:
            raise ManifestError(
                f"folder name {folder.name!r} is not NNNN_slug "
                "(four or more digits, an underscore, lower-case letters, digits and _)",
                path=folder,
                hint="rename it, e.g. 0007_add_users_email",
            )
        number = int(match["number"])
        if number in by_number:
            raise ManifestError(
                f"duplicate migration number {number:04d}: also used by {by_number[number].name}",
                path=folder,
                hint="give one of them the next free number",
            )
        by_number[number] = folder
        migrations.append(load_migration(folder, placeholders_ok=placeholders_ok))
    migrations.sort(key=lambda m: m.number)
    _check_requires(migrations, missing_ok=missing_requires_ok)
    return MigrationSet(directory=str(directory), migrations=tuple(migrations))


def load_migration(folder: Path, *, placeholders_ok: bool = False) -> Migration:
    match = MIGRATION_ID.match(folder.name)
    if not match:
        raise ManifestError(f"folder name {folder.name!r} is not NNNN_slug", path=folder)
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if not files:
        raise ManifestError(
            "migration folder is empty",
            path=folder,
            hint=f"add a {MANIFEST_NAME} (see 'expandctl new') or delete the folder",
        )
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.exists():
        raise ManifestError(
            f"missing {MANIFEST_NAME}",
            path=folder,
            hint='every migration needs one, with at least description = "..."',
        )
    manifest_raw, manifest_text = _read_file(manifest_path)
    manifest = parse_manifest(manifest_text, manifest_path, placeholders_ok=placeholders_ok)
    # Each file is read once: its text is loaded, its bytes go into the checksum.
    digest = hashlib.sha256()
    sql_files: dict[str, SqlFile] = {}
    for path in files:
        if path.name.endswith(_IGNORED_SUFFIXES):
            continue
        if path.name == MANIFEST_NAME:
            raw = manifest_raw
        elif path.is_dir() or path.name not in SQL_FILE_NAMES:
            raise ManifestError(
                f"unexpected file {path.name!r}",
                path=path,
                hint="phase files are named " + ", ".join(SQL_FILE_NAMES),
            )
        else:
            raw, text = _read_file(path)
            sql_files[path.name] = _sql_file(path, text)
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
    by_file = {phase: file_checksums(manifest, sql_files, phase) for phase in PHASES}
    return Migration(
        id=folder.name,
        number=int(match["number"]),
        slug=match["slug"],
        path=str(folder),
        manifest=manifest,
        sql_files=sql_files,
        checksum=digest.hexdigest(),
        phase_checksums={phase: phase_checksum(by_file[phase]) for phase in PHASES},
        file_checksums=by_file,
        legacy_phase_checksums={
            phase: legacy_phase_checksum(manifest, sql_files, phase) for phase in PHASES
        },
    )


def parse_manifest(text: str, path: Path, *, placeholders_ok: bool = False) -> Manifest:
    """The validated manifest, or one error listing every problem found, each with its line."""
    data = load_toml(text, path, ManifestError)
    found = manifest_checks.data_problems(data, text, placeholders=not placeholders_ok)
    problems = [problem for _, problem in found]
    if any(len(location) > MAX_DEPTH for location, _ in found):
        raise problems_error(problems, path, ManifestError)  # too deep to validate safely
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        reported = [location for location, _ in found]
        problems += validation_problems(exc, text, model=Manifest, data=data, skip=reported)
        by_line = sorted(problems, key=lambda p: p.line or 0)  # as an editor lists them
        raise problems_error(by_line, path, ManifestError) from None
    if problems:
        raise problems_error(problems, path, ManifestError)
    problems = manifest_checks.field_problems(manifest, text, placeholders_ok=placeholders_ok)
    if problems:
        raise problems_error(problems, path, ManifestError)
    return manifest


def _read_file(path: Path) -> tuple[bytes, str]:
    """The raw bytes (for the checksum) and the checked text (``loader.files``)."""
    return read_text_file(path, ManifestError)


def _sql_file(path: Path, text: str) -> SqlFile:
    if path.name in FORWARD_FILES:
        phase, rollback = FORWARD_FILES[path.name], False
    else:
        phase, rollback = ROLLBACK_FILES[path.name], True
    return SqlFile(name=path.name, path=str(path), text=text, phase=phase, rollback=rollback)


def _check_requires(migrations: list[Migration], *, missing_ok: bool = False) -> None:
    order = {m.id: m.number for m in migrations}
    for migration in migrations:
        for required in migration.manifest.requires:
            if required not in order and missing_ok:
                continue
            if required not in order:
                raise _requires_error(
                    migration,
                    f"requires {required!r}, which is not in the migrations directory",
                    "check the spelling against 'expandctl list'",
                )
            if order[required] >= migration.number:
                raise _requires_error(
                    migration,
                    f"requires {required!r}, which comes later (or is this migration)",
                    "a migration may only require earlier ones; renumber one of them",
                )


def _requires_error(migration: Migration, message: str, hint: str) -> ManifestError:
    """Only a failing check goes back to the file, to find the line of ``requires``."""
    manifest_path = Path(migration.path) / MANIFEST_NAME
    line = line_of(key_lines(_read_file(manifest_path)[1]), ["requires"])
    return ManifestError(message, path=manifest_path, line=line, hint=hint)
