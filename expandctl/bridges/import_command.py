"""``expandctl import``: one Alembic revision or Django migration as a phased migration."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from expandctl.bridges.imported import Imported, write_migration
from expandctl.lint import lint_migration, rule_set
from expandctl.lint.finding import Finding
from expandctl.model.config import ResolvedConfig


@dataclass
class ImportReport:
    """What ``import`` wrote, what it kept as SQL and why, and what to run next."""

    source: str  # "alembic 1a2b3c4d5e6f"
    revision_path: str
    migration_id: str
    manifest_path: str  # where it was written ("" on a dry run)
    manifest: str  # the migration.toml text
    translated: int  # operations with a declarative equivalent
    kept_as_sql: list[str]  # "<source>: why", one per SQL step kept
    not_imported: list[str]  # "<source>: why" (RunPython): nothing written for it
    mark_applied: str  # the command that makes the other tool skip the revision
    findings: list[Finding] = field(default_factory=list)  # lint of the new migration
    dry_run: bool = False


def import_alembic(
    config: ResolvedConfig,
    revision: str,
    *,
    alembic_config: str | None = None,
    slug: str | None = None,
    dry_run: bool = False,
    cwd: Path | None = None,
) -> ImportReport:
    from expandctl.bridges import alembic_import, alembic_project

    cfg = alembic_project.alembic_config(alembic_config, cwd=cwd)
    script = alembic_project.find_revision(cfg, revision)
    return _write(config, alembic_import.import_revision(script), slug, dry_run)


def import_django(
    config: ResolvedConfig,
    app: str,
    migration: str,
    *,
    settings: str | None = None,
    slug: str | None = None,
    dry_run: bool = False,
    cwd: Path | None = None,
) -> ImportReport:
    from expandctl.bridges import django_import, django_project

    django_project.setup(settings, cwd=cwd)
    found = django_project.find_migration(app, migration)
    return _write(config, django_import.import_migration(found), slug, dry_run)


def _write(
    config: ResolvedConfig, imported: Imported, slug: str | None, dry_run: bool
) -> ImportReport:
    target = Path(config.migrations_path)
    with tempfile.TemporaryDirectory() as scratch:
        if dry_run:  # written and loaded in a scratch folder numbered like the real one
            scratch_dir = Path(scratch) / "migrations"
            scratch_dir.mkdir()
            for child in target.iterdir() if target.is_dir() else []:
                if child.is_dir():
                    (scratch_dir / child.name).mkdir()
            migration = write_migration(imported, scratch_dir, slug)
        else:
            migration = write_migration(imported, target, slug)
        manifest = (Path(migration.path) / "migration.toml").read_text(encoding="utf-8")
    rules = rule_set(config.settings.lint)
    results = lint_migration(migration, pg_version=config.settings.pg_version, rules=rules)
    findings = [f for r in results for f in r.findings]
    return ImportReport(
        source=f"{imported.tool} {imported.revision}",
        revision_path=str(imported.path),
        migration_id=migration.id,
        manifest_path="" if dry_run else str(Path(migration.path) / "migration.toml"),
        manifest=manifest,
        translated=sum(o.note is None for o in imported.operations),
        kept_as_sql=imported.notes,
        not_imported=imported.skipped,
        mark_applied=imported.mark_applied,
        findings=findings,
        dry_run=dry_run,
    )
