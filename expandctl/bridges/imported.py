"""A revision translated into declarative operations, and writing it as a migration.

The importers (``alembic_import``, ``django_import``) fill an ``Imported``:
each operation they could translate becomes its expandctl operation; the rest
is kept as an ``op = "sql"`` step (in expand) with a note saying why. The
writer puts it in ``migrations/NNNN_slug/migration.toml`` (the next number),
then loads it back through the loader, so a file that would not load is
never left behind.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from expandctl.errors import ExpandctlError, UsageError
from expandctl.loader.migrations import MANIFEST_NAME, load_migration
from expandctl.model.manifest import MIGRATION_ID
from expandctl.model.migration import Migration
from expandctl.model.operations import Operation
from expandctl.model.ops.scaffold import toml_value

_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class ImportedOp:
    fields: dict[str, Any]  # the [[operations]] entry, as in migration.toml
    source: str  # what it came from: "op.add_column('users', …)", "AddField customer.age"
    note: str | None = None  # why it was kept as SQL (None: translated)


@dataclass
class Imported:
    tool: str  # "alembic" or "django"
    revision: str  # "1a2b3c4d5e6f", "shop.0003_rename"
    path: Path  # the revision's file
    description: str
    mark_applied: str  # the command that tells the tool expandctl runs it
    slug: str = ""  # default folder slug ("" : from the description)
    operations: list[ImportedOp] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<source>: why", nothing imported

    def add(self, fields: dict[str, Any], source: str, note: str | None = None) -> None:
        self.operations.append(ImportedOp(_checked(fields, source), source, note))

    def add_all(self, translated: list[dict[str, Any]], source: str) -> None:
        """All of one source operation's translations, or none (each is checked first)."""
        checked = [_checked(fields, source) for fields in translated]
        self.operations.extend(ImportedOp(fields, source) for fields in checked)

    def keep_sql(self, sql: str, source: str, why: str) -> None:
        """What could not be translated: its SQL, run in expand, and why it was kept."""
        text = sql.strip()
        if not text:
            return  # state-only operations (Django's AlterModelOptions …) have no SQL
        self.add({"op": "sql", "expand": text}, source, why)

    def skip(self, source: str, why: str) -> None:
        """Something with no SQL to keep (RunPython): reported, not imported."""
        self.skipped.append(f"{source}: {why}")

    @property
    def notes(self) -> list[str]:
        return [f"{o.source}: {o.note}" for o in self.operations if o.note]


def _checked(fields: dict[str, Any], source: str) -> dict[str, Any]:
    try:
        TypeAdapter(Operation).validate_python(fields)
    except ValidationError as exc:  # a translation bug, or input the importer misread
        raise UsageError(f"could not translate {source}: {exc.errors()[0]['msg']}") from exc
    return fields


def manifest_text(imported: Imported) -> str:
    """migration.toml for the imported revision, notes as comments above their step."""
    lines = [
        f"# Imported from {imported.tool} {imported.revision} ({imported.path.name}) by",
        "# `expandctl import`. So that the two tools never both run it, tell",
        f"# {imported.tool} that expandctl runs it: {imported.mark_applied}",
    ]
    lines += [f"# NOT imported: {line}" for line in imported.skipped]
    lines.append(f"description = {toml_value(imported.description)}")
    for op in imported.operations:
        lines.append("")
        lines.append(f"# from {op.source}")
        if op.note:
            lines.append(f"# kept as SQL: {op.note}")
        lines.append("[[operations]]")
        for key, value in op.fields.items():
            name = key if _KEY.fullmatch(key) else toml_value(key)
            lines.append(f"{name} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def next_migration_id(migrations_dir: Path, slug: str) -> str:
    """``NNNN_slug`` numbered after the highest migration in the folder."""
    numbers = [
        int(match.group("number"))
        for child in (migrations_dir.iterdir() if migrations_dir.is_dir() else [])
        if (match := MIGRATION_ID.match(child.name))
    ]
    return f"{max(numbers, default=0) + 1:04d}_{slug}"


def slug_of(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return words[:48].rstrip("_") or "imported"


def write_migration(imported: Imported, migrations_dir: Path, slug: str | None) -> Migration:
    """Write ``migrations_dir/NNNN_slug/migration.toml`` and load it back (or write nothing)."""
    if not imported.operations:
        raise UsageError(
            f"{imported.tool} {imported.revision} has no schema operations to import",
            path=imported.path,
        )
    migration_id = next_migration_id(
        migrations_dir, slug_of(slug or imported.slug or imported.description)
    )
    folder = migrations_dir / migration_id
    folder.mkdir(parents=True)
    (folder / MANIFEST_NAME).write_text(manifest_text(imported), encoding="utf-8")
    try:
        return load_migration(folder)
    except ExpandctlError:
        shutil.rmtree(folder)  # nothing changed: the error says what was wrong
        raise
