"""``expandctl new SLUG``: scaffold the next numbered migration folder."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from expandctl.errors import UsageError
from expandctl.loader.migrations import MANIFEST_NAME, load_migrations
from expandctl.model.config import ResolvedConfig
from expandctl.model.ops.scaffold import ScaffoldInput, scaffold_operation
from expandctl.model.sqlfiles import SQL_FILE_NAMES

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")

MANIFEST_TEMPLATE = """\
# {migration_id}
# One migration, five deploys: expand -> backfill -> switch-reads -> switch-writes -> contract.
# Phase SQL lives beside this file (expand.sql, contract.sql, ...); empty files do nothing.

description = "{description}"

# Migrations that must be at least expanded before this one starts:
# requires = ["0001_create_users"]

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


class CreatedMigration(BaseModel):
    id: str
    path: str
    files: list[str]


def create_migration(
    config: ResolvedConfig,
    slug: str,
    description: str | None = None,
    operation: ScaffoldInput | None = None,
) -> CreatedMigration:
    slug = slug.strip().lower().replace("-", "_")
    if not _SLUG.match(slug):
        raise UsageError(
            f"slug {slug!r} must be lower-case letters, digits and underscores",
            hint="e.g. expandctl new add_users_email",
        )
    directory = Path(config.migrations_path)
    directory.mkdir(parents=True, exist_ok=True)
    # Loading validates the existing set, so a broken folder is reported, not numbered past.
    number = load_migrations(directory).next_number
    migration_id = f"{number:04d}_{slug}"
    folder = directory / migration_id
    folder.mkdir()
    text = description or slug.replace("_", " ").capitalize()
    manifest = MANIFEST_TEMPLATE.format(
        migration_id=migration_id, description=text.replace("\\", "\\\\").replace('"', '\\"')
    )
    if operation is not None:
        # A declarative operation generates every phase's SQL: no phase files needed.
        manifest += "\n" + scaffold_operation(operation)
    (folder / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    files = [MANIFEST_NAME]
    for name in SQL_FILE_NAMES if operation is None else ():
        (folder / name).write_text("", encoding="utf-8")
        files.append(name)
    return CreatedMigration(id=migration_id, path=str(folder), files=files)
