"""The Django bridge on a small real project: ``lint --django`` per migration,
``import django`` round trips, and a RenameField imported and advanced under
live old/new clients, then faked as applied so ``migrate`` never runs it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import psycopg
import pytest

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.engine.workload.clients import AppShape, Workload, verify_rows
from expandctl.engine.workload.proof import Prover
from expandctl.errors import ExpandctlError
from tests.bridges.conftest import ToolProject
from tests.operations.support import snapshot

pytestmark = pytest.mark.db

NAME = "    name = models.TextField()\n"


def _start(project: ToolProject) -> None:
    project.manage("makemigrations", "shop")
    project.manage("migrate", "shop")


def _add_age_and_index(project: ToolProject, field: str = "models.IntegerField(null=True)") -> Path:
    project.edit(
        "shop/models.py",
        NAME + "\n    class Meta:\n",
        NAME
        + f"    age = {field}\n\n    class Meta:\n"
        + '        indexes = [models.Index(fields=["email"], name="customers_email_idx")]\n',
    )
    project.manage("makemigrations", "shop", "-n", "add_age")
    return project.root / "shop" / "migrations" / "0002_add_age.py"


def _import(project: ToolProject, *args: str) -> dict[str, object]:
    done = project.expandctl("import", "django", "shop", *args, "--format", "json")
    return dict(json.loads(done.stdout))


def test_lint_each_migration_alone(django_project: ToolProject) -> None:
    _start(django_project)
    second = _add_age_and_index(django_project)
    done = django_project.expandctl("lint", "--django", "shop", "--format", "json", check=False)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert [f["path"] for f in report["files"]] == [
        "shop/migrations/0001_initial.py",
        "shop/migrations/0002_add_age.py",
    ]
    (l101,) = [f for f in report["findings"] if f["rule_id"] == "L101"]
    assert l101["path"] == "shop/migrations/0002_add_age.py"
    assert "migrations.AddIndex" in second.read_text().splitlines()[l101["line"] - 1]
    assert l101["message"].startswith("shop.0002_add_age: ")
    # The settings can come from --settings, and an unknown app is a usage error
    unknown = django_project.expandctl(
        "lint", "--django", "nope", "--settings", "mysite.settings", check=False
    )
    assert unknown.returncode == 2 and "app 'nope'" in unknown.stderr


def test_import_round_trip(django_project: ToolProject) -> None:
    _start(django_project)
    _add_age_and_index(django_project, "models.IntegerField(default=0)")
    report = _import(django_project, "0002")
    assert report["migration_id"] == "0001_shop_add_age"
    assert tomllib.loads(str(report["manifest"]))["operations"] == [
        {
            "op": "add_column",
            "table": "customers",
            "column": "age",
            "type": "integer",
            "default": "0",
            "not_null": True,
        },
        {
            "op": "create_index",
            "table": "customers",
            "name": "customers_email_idx",
            "columns": ["email"],
        },
    ]
    assert report["findings"] == [] and report["kept_as_sql"] == []
    assert report["mark_applied"] == "python manage.py migrate --fake shop 0002_add_age"
    # RunSQL stays SQL (with its reverse); RunPython cannot be imported, and says so
    django_project.manage("makemigrations", "shop", "--empty", "-n", "data")
    data = django_project.root / "shop" / "migrations" / "0003_data.py"
    data.write_text(
        data.read_text().replace(
            "operations = [\n    ]",
            "operations = [\n"
            "        migrations.RunSQL('UPDATE customers SET age = 1 WHERE age = 0',"
            " 'SELECT 1'),\n"
            "        migrations.RunPython(migrations.RunPython.noop),\n"
            "    ]",
        )
    )
    kept = _import(django_project, "0003_data")
    assert tomllib.loads(str(kept["manifest"]))["operations"] == [
        {
            "op": "sql",
            "expand": "UPDATE customers SET age = 1 WHERE age = 0",
            "expand.down": "SELECT 1",
        }
    ]
    (skipped,) = kept["not_imported"]  # type: ignore[misc]
    assert skipped.startswith("RunPython (line ") and "backfill" in skipped
    assert "# NOT imported: RunPython" in str(kept["manifest"])


@pytest.mark.slow
def test_rename_imported_advanced_under_traffic_and_faked(django_project: ToolProject) -> None:
    project = django_project
    _start(project)
    _add_age_and_index(project)  # 0002: written, not applied yet
    project.edit("shop/models.py", NAME, "    full_name = models.TextField()\n")
    project.manage("makemigrations", "shop", "-n", "rename_name", stdin="y\n")
    report = _import(project, "0003_rename_name")
    assert tomllib.loads(str(report["manifest"]))["operations"] == [
        {
            "op": "rename_column",
            "table": "customers",
            "column": "name",
            "to": "full_name",
            "type": "text",
            "not_null": True,
        }
    ]
    migration = str(report["migration_id"])
    manifest = Path(str(report["manifest_path"]))
    manifest.write_text(
        manifest.read_text() + '\n[gates.expand]\ndjango_migration = "shop.0002_add_age"\n'
    )
    config = project.config()
    with pytest.raises(ExpandctlError, match=r"Django migration shop\.0002_add_age is not applied"):
        advance(config, migration, yes=True)
    project.manage("migrate", "shop", "0002")

    with psycopg.connect(project.db.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO customers (email, name) SELECT 'seed' || g || '@x.org', 'Seed ' || g"
            " FROM generate_series(1, 300) AS g"
        )
    old = AppShape(
        "old", "customers", ("name",), lambda n: (f"Old {n}",), {"email": lambda n: f"old{n}@x.org"}
    )
    new = AppShape(
        "new",
        "customers",
        ("full_name",),
        lambda n: (f"New {n}",),
        {"email": lambda n: f"new{n}@x.org"},
    )
    with Workload(project.db.dsn, [old, new], think_time=0.001) as workload:
        run = Prover(
            workload,
            advance=lambda phase: advance(config, migration, to=phase, yes=True),
            rollback=lambda phase: rollback(config, migration, yes=True),
            soak_seconds=0.15,
            snapshot=lambda: snapshot(project.db.dsn),
        ).prove()
    assert workload.errors() == [], workload.errors()[:3]
    assert workload.requests("old") > 20 and workload.requests("new") > 20
    assert run.schema_drift == []
    with psycopg.connect(project.db.dsn) as conn:
        assert verify_rows(conn, new, workload.written("new")) == []
        moved = AppShape("old", "customers", ("full_name",), old.values)
        assert verify_rows(conn, moved, workload.written("old")) == []

    # Hand it back to Django: faked as applied, so migrate never runs it; models match
    project.manage("migrate", "--fake", "shop", "0003_rename_name")
    assert "No migrations to apply" in project.manage("migrate").stdout
    assert "No changes detected" in project.manage("makemigrations", "--check", "--dry-run").stdout
    with psycopg.connect(project.db.dsn) as conn:
        tables = set(
            conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                " WHERE table_name IN ('django_migrations', 'migrations')"
            ).fetchall()
        )
        assert tables == {("public.django_migrations",), ("expandctl.migrations",)}
        assert conn.execute("SELECT id, state FROM expandctl.migrations").fetchall() == [
            (migration, "contract")
        ]
