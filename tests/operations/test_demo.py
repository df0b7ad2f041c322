"""``expandctl demo``: the live split-name story, short, against the test database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from expandctl.cli import cli
from expandctl.commands.demo import run_demo
from expandctl.model.config import ResolvedConfig, Settings
from tests.conftest import PgDatabase
from tests.operations.support import query

pytestmark = [pytest.mark.db, pytest.mark.slow]


def demo_schemas(dsn: str) -> list[tuple[object, ...]]:
    return query(dsn, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'expandctl_demo%%'")


def test_demo_runs_all_phases_without_client_errors_and_cleans_up(
    pg_database: PgDatabase, tmp_path: object
) -> None:
    config = ResolvedConfig(
        settings=Settings(), project_root=str(tmp_path), source=None, database_url=pg_database.url
    )
    seen: list[str] = []
    report = run_demo(
        config,
        rows=3000,
        soak_seconds=0.1,
        with_rollbacks=True,
        on_window=lambda w: seen.append(w.label),
    )
    assert report.errors == {"old": 0, "new": 0}, report.error_samples
    assert report.requests["old"] > 0 and report.requests["new"] > 0
    assert report.stale_rows_before_contract == 0
    assert report.rows_after >= 3000
    phases = [w.label for w in report.windows if w.direction == "forward"]
    assert phases == ["expand", "backfill", "switch-reads", "switch-writes", "contract"]
    assert "switch-writes rollback" in seen
    assert all(set(w.slowest_ms) == {"old", "new"} for w in report.windows)
    assert max(w.slowest_ms["old"] for w in report.windows) > 0
    assert demo_schemas(pg_database.dsn) == []


def test_demo_cli_json_and_keep(pg_database: PgDatabase, tmp_path: object) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--database-url",
            pg_database.url,
            "demo",
            "--rows",
            "500",
            "--soak",
            "0.05",
            "--keep",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["errors"] == {"old": 0, "new": 0}
    assert data["kept"] is True
    assert sorted(r[0] for r in demo_schemas(pg_database.dsn)) == [
        "expandctl_demo",
        "expandctl_demo_state",
    ]
    # A second run refuses to trample the kept schemas.
    again = CliRunner().invoke(cli, ["--database-url", pg_database.url, "demo", "--rows", "10"])
    assert again.exit_code == 2
    assert "already exists" in again.output
