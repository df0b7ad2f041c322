"""A Django project as the bridge sees it: settings, migrations, and their SQL.

The SQL of a migration is what ``manage.py sqlmigrate APP NAME`` prints (run
through ``call_command``), which needs the settings' database reachable, as
``sqlmigrate`` itself does. Each operation's SQL follows a ``-- <description>``
header; the headers are matched, in order, with the entries of the
migration's ``operations`` list, to point findings at the operation's line.
"""

from __future__ import annotations

import ast
import io
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expandctl.bridges.requires import require

require("django")

import django  # noqa: E402
from django.apps import apps  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402

from expandctl.bridges.phase_mark import marked_phase  # noqa: E402
from expandctl.bridges.rendered import RenderedRevision  # noqa: E402
from expandctl.errors import UsageError  # noqa: E402

_HEADER = re.compile(r"^--\n-- .*\n--\n", re.MULTILINE)


@dataclass(frozen=True)
class DjangoMigration:
    app: str
    name: str
    path: Path
    migration: Any  # django.db.migrations.Migration


def setup(settings: str | None, *, cwd: Path | None = None) -> None:
    """Configure Django from ``settings`` or $DJANGO_SETTINGS_MODULE, as manage.py does."""
    if settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise UsageError(
            "no Django settings: DJANGO_SETTINGS_MODULE is not set",
            hint="pass --settings mysite.settings, or export DJANGO_SETTINGS_MODULE",
        )
    root = str(cwd or Path.cwd())
    if root not in sys.path:  # manage.py's folder is importable, as under manage.py
        sys.path.insert(0, root)
    try:
        django.setup()
    except (ImportError, ImproperlyConfigured) as exc:
        raise UsageError(f"Django settings could not be loaded: {exc}") from exc


def migrations_of(apps_wanted: Sequence[str], *, cwd: Path | None = None) -> list[DjangoMigration]:
    """The migrations of the given apps (all apps under ``cwd`` if none), in apply order."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    labels = list(apps_wanted) or _project_apps(cwd or Path.cwd())
    for label in labels:
        if label not in loader.migrated_apps:
            raise UsageError(f"Django app {label!r} has no migrations (or is not installed)")
    ordered: list[tuple[str, str]] = []
    for leaf in loader.graph.leaf_nodes():
        for node in loader.graph.forwards_plan(leaf):
            if node[0] in labels and node not in ordered:
                ordered.append(node)
    return [_migration(loader, app, name) for app, name in ordered]


def find_migration(app: str, name: str) -> DjangoMigration:
    """One migration by app label and name (or a unique prefix, as ``sqlmigrate`` takes)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    if app not in loader.migrated_apps:
        raise UsageError(f"Django app {app!r} has no migrations (or is not installed)")
    try:
        found = loader.get_migration_by_prefix(app, name)
    except (KeyError, Exception) as exc:  # AmbiguityError is a plain Exception
        raise UsageError(f"Django migration {app}.{name}: {exc}") from None
    return _migration(loader, app, found.name)


def render(migration: DjangoMigration) -> RenderedRevision:
    """The migration's SQL as ``sqlmigrate`` prints it, each operation at its line."""
    out = io.StringIO()
    call_command("sqlmigrate", migration.app, migration.name, stdout=out, no_color=True)
    text = out.getvalue()
    source = migration.path.read_text(encoding="utf-8")
    rendered = RenderedRevision(
        f"{migration.app}.{migration.name}", migration.path, marked_phase(source, migration.path)
    )
    lines = operation_lines(source)
    position = 0
    for index, header in enumerate(_HEADER.finditer(text)):
        rendered.add(text[position : header.start()], None)
        line = lines[index] if index < len(lines) else None
        rendered.add(text[header.start() : header.end()], line)
        position = header.end()
    rendered.add(text[position:], None)
    return rendered


def operation_lines(source: str) -> list[int]:
    """The line of each entry of ``Migration.operations``, in order ([] if not a plain list)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "operations" for t in item.targets)
                    and isinstance(item.value, ast.List)
                ):
                    return [element.lineno for element in item.value.elts]
    return []


def _migration(loader: Any, app: str, name: str) -> DjangoMigration:
    migration = loader.get_migration(app, name)
    module = sys.modules[type(migration).__module__]
    return DjangoMigration(app, name, Path(str(module.__file__)), migration)


def _project_apps(cwd: Path) -> list[str]:
    """Apps whose code lives under ``cwd``: the project's own, not installed packages."""
    root = cwd.resolve()
    return [
        config.label
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(root)
    ]
