"""Bridge tests: copies of the fixture projects, driven by the real tools in subprocesses.

Alembic's env.py and Django's settings are imported by the tools themselves;
running them (and expandctl's bridge commands) in subprocesses keeps one
test's project modules out of the next test's interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from expandctl.model.config import ResolvedConfig, Settings
from tests.conftest import PROJECT_ROOT, PgDatabase

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"


@dataclass
class ToolProject:
    root: Path
    db: PgDatabase

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "BRIDGE_DATABASE_URL": self.db.url,
            "EXPANDCTL_DATABASE_URL": self.db.url,
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
        }

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            args,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def expandctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "expandctl", *args, check=check)

    def alembic(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "alembic", *args)

    def manage(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "manage.py", *args, stdin=stdin)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def config(self) -> ResolvedConfig:
        return ResolvedConfig(
            settings=Settings(lock_timeout=timedelta(seconds=1)),
            project_root=str(self.root),
            source=None,
            database_url=self.db.url,
        )

    def revision_files(self) -> list[Path]:
        return sorted((self.root / "alembic" / "versions").glob("*.py"), key=_mtime)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime_ns


def _copy(name: str, tmp_path: Path, db: PgDatabase) -> ToolProject:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "migrations").mkdir()
    return ToolProject(root, db)


@pytest.fixture
def alembic_project(tmp_path: Path, pg_database: PgDatabase) -> ToolProject:
    return _copy("alembic_project", tmp_path, pg_database)


@pytest.fixture
def django_project(tmp_path: Path, pg_database: PgDatabase) -> ToolProject:
    return _copy("django_project", tmp_path, pg_database)


def autogenerate(project: ToolProject, message: str) -> Path:
    """``alembic revision --autogenerate`` against the real database; the new file."""
    before = set(project.revision_files())
    project.alembic("revision", "--autogenerate", "-m", message)
    (created,) = set(project.revision_files()) - before
    return created


def revision_id(path: Path) -> str:
    return path.name.split("_", 1)[0]
