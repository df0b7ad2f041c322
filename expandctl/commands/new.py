"""``expandctl new SLUG``: scaffold the next numbered migration folder.

Like alembic's ``revision``: the next number, a manifest that names the
migration before it in ``requires`` (alembic's ``down_revision``), and either
a declared operation (``--op``) or the phase files, each opening with a
comment on what belongs in that phase. Values not given on the command line
are placeholders the loader refuses until they are filled in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from expandctl.errors import UsageError
from expandctl.loader.migrations import MANIFEST_NAME, load_migrations
from expandctl.model.config import ResolvedConfig
from expandctl.model.ops.scaffold import ScaffoldInput, scaffold_operation, toml_value
from expandctl.model.sqlfiles import SQL_FILE_NAMES

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")

MANIFEST_TEMPLATE = """\
# {migration_id}, created {created} by `expandctl new`
# One migration, five deploys: expand -> backfill -> switch-reads -> switch-writes -> contract.
# Phase SQL lives beside this file (expand.sql, contract.sql, ...); empty files do nothing.

description = "{description}"

# Migrations that must be expanded before this one's expand starts (and that cannot
# roll expand back while this one is past pending). `new` names the latest existing
# migration, like alembic's down_revision; remove it if the two are independent.
{requires}

# Objects contract removes; the linter refuses drops that are not listed here:
# retires = ["users.name", "index:users_name_idx"]

# Fill new columns of existing rows in small, resumable batches:
# [backfill]
# table = "users"
# set = {{ email_norm = "lower(email)" }}
# where = "email_norm IS DISTINCT FROM lower(email)"

# Conditions checked before a phase may start:
# [gates.contract]
# min_soak = "24h"
# sql = "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'app-v1'"
"""

# The header of each phase file: what belongs there. Comments only, so the
# file still runs nothing (a comment-only file has no steps, like an empty one).
PHASE_FILE_HEADERS: dict[str, str] = {
    "expand.sql": (
        "add the new shape; old code still runs and must not notice: new nullable\n"
        "columns, new tables, CREATE INDEX CONCURRENTLY, constraints NOT VALID,\n"
        "triggers that keep old and new shapes in sync"
    ),
    "expand.down.sql": ("undo expand.sql (rollback of expand): drop what it added, with IF EXISTS"),
    "switch-reads.sql": (
        "before new code reads the new shape: VALIDATE the NOT VALID constraints,\n"
        "check the backfill ([backfill] in migration.toml) left nothing behind"
    ),
    "switch-reads.down.sql": "undo switch-reads.sql (rollback of switch-reads)",
    "switch-writes.sql": (
        "before new code writes the new shape: make the sync trigger keep the OLD\n"
        "shape correct from the new one, so a rollback finds it right"
    ),
    "switch-writes.down.sql": "undo switch-writes.sql: the old shape wins again",
    "contract.sql": (
        "only new code runs: drop the old shape (columns, sync triggers, helper\n"
        "constraints). Irreversible; list what it drops in `retires` in migration.toml"
    ),
}


def phase_file_header(name: str) -> str:
    lines = [
        f"{name}: {PHASE_FILE_HEADERS[name]}",
        "Leave it empty (or only comments) to run nothing.",
    ]
    return "".join(f"-- {line}\n" for text in lines for line in text.splitlines()) + "\n"


class CreatedMigration(BaseModel):
    id: str
    path: str
    files: list[str]
    requires: list[str] = []


def create_migration(
    config: ResolvedConfig,
    slug: str,
    description: str | None = None,
    operation: ScaffoldInput | None = None,
    requires: list[str] | None = None,
) -> CreatedMigration:
    """``requires``: None names the latest existing migration (if any); [] names none."""
    slug = slug.strip().lower().replace("-", "_")
    if not _SLUG.match(slug):
        raise UsageError(
            f"slug {slug!r} must be lower-case letters, digits and underscores",
            hint="e.g. expandctl new add_users_email",
        )
    directory = Path(config.migrations_path)
    directory.mkdir(parents=True, exist_ok=True)
    # Loading validates the existing set, so a broken folder is reported, not numbered past;
    # a scaffold whose placeholders are not filled in yet is not broken.
    existing = load_migrations(directory, placeholders_ok=True)
    if requires is None:
        requires = [existing.migrations[-1].id] if existing.migrations else []
    unknown = [r for r in requires if existing.get(r) is None]
    if unknown:
        raise UsageError(
            f"--requires {unknown[0]!r} is not a migration in {directory}",
            hint="name an existing folder, e.g. from 'expandctl list'",
        )
    migration_id = f"{existing.next_number:04d}_{slug}"
    folder = directory / migration_id
    folder.mkdir()
    text = description or slug.replace("_", " ").capitalize()
    manifest = MANIFEST_TEMPLATE.format(
        migration_id=migration_id,
        created=datetime.now(UTC).strftime("%Y-%m-%d"),
        description=text.replace("\\", "\\\\").replace('"', '\\"'),
        requires=_requires_lines(requires),
    )
    if operation is not None:
        # A declarative operation generates every phase's SQL: no phase files needed.
        manifest += "\n" + scaffold_operation(operation)
    (folder / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    files = [MANIFEST_NAME]
    for name in SQL_FILE_NAMES if operation is None else ():
        (folder / name).write_text(phase_file_header(name), encoding="utf-8")
        files.append(name)
    return CreatedMigration(id=migration_id, path=str(folder), files=files, requires=requires)


def _requires_lines(requires: list[str]) -> str:
    if not requires:
        return '# requires = ["0001_create_users"]'
    return f"requires = {toml_value(requires)}"
