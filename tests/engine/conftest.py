"""Helpers for engine tests: a throwaway project with migrations, run against a real database."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from expandctl.cli.app import cli
from expandctl.model.config import ResolvedConfig, Settings
from tests.conftest import PgDatabase


@dataclass
class Project:
    root: Path
    db: PgDatabase
    overrides: dict[str, Any]

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    def config(self, **settings: Any) -> ResolvedConfig:
        values = {"lock_timeout": timedelta(seconds=1), **self.overrides, **settings}
        return ResolvedConfig(
            settings=Settings(**values),
            project_root=str(self.root),
            source=None,
            database_url=self.db.url,
        )

    def add(self, migration_id: str, description: str = "test", **files: str) -> Path:
        """Write a migration folder; keyword names map to files (expand_down -> expand.down.sql)."""
        folder = self.migrations / migration_id
        folder.mkdir(parents=True, exist_ok=True)
        manifest = files.pop("manifest", "")
        (folder / "migration.toml").write_text(
            f'description = "{description}"\n' + textwrap.dedent(manifest), encoding="utf-8"
        )
        for name, text in files.items():
            file_name = name.replace("_", "-").replace("-down", ".down") + ".sql"
            (folder / file_name).write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    def write_config(self, **settings: str) -> Path:
        lines = [
            f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in settings.items()
        ]
        path = self.root / "expandctl.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def cli(self, *args: str) -> Result:
        config = self.root / "expandctl.toml"
        if not config.exists():
            self.write_config()
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--config", str(config), "--database-url", self.db.url, *args],
            catch_exceptions=False,
        )

    def query(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db.dsn, autocommit=True) as conn:
            cur = conn.execute(text, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description is not None else []

    def one(self, text: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.query(text, params)
        return rows[0][0] if rows else None

    def state(self, migration_id: str) -> str | None:
        return self.one(  # type: ignore[no-any-return]
            "SELECT state FROM expandctl.migrations WHERE id = %s", (migration_id,)
        )


@pytest.fixture
def project(tmp_path: Path, pg_database: PgDatabase) -> Project:
    (tmp_path / "migrations").mkdir()
    return Project(root=tmp_path, db=pg_database, overrides={})


Factory = Callable[..., Project]


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """expandctl's WARNING lines (the CLI may have stopped them reaching the root logger)."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logger = logging.getLogger("expandctl")
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
