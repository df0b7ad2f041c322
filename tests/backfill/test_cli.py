"""``advance`` runs the backfill end to end; ``backfill pause|resume|status``; the renderer."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from expandctl.cli.app import cli
from expandctl.cli.backfill_progress import ProgressRenderer
from expandctl.engine.backfill import BackfillProgress
from tests.conftest import PgDatabase

MANIFEST = """description = "normalise emails"
[backfill]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 700
"""


def _project(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations" / "0001_email_norm"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text(MANIFEST)
    (folder / "expand.sql").write_text("ALTER TABLE users ADD COLUMN email_norm text;\n")
    (folder / "expand.down.sql").write_text("ALTER TABLE users DROP COLUMN email_norm;\n")
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    return tmp_path


def _cli(root: Path, db: PgDatabase, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(root / "expandctl.toml"), "--database-url", db.url, *args]
    )


@pytest.mark.db
def test_advance_backfills_and_the_commands_show_and_steer_it(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    root = _project(tmp_path)
    with pg_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
        conn.execute(
            "INSERT INTO users SELECT g, 'A' || g || '@B.C' FROM generate_series(1, 5000) g"
        )

    empty = _cli(root, pg_database, "backfill", "status")
    assert empty.exit_code == 0 and "no backfill has run" in empty.output

    expand = _cli(root, pg_database, "advance", "0001_email_norm")
    assert expand.exit_code == 0, expand.output

    dry = _cli(root, pg_database, "backfill", "dry-run", "0001_email_norm", "--format", "json")
    assert dry.exit_code == 0, dry.output
    [batch] = json.loads(dry.output)["batches"]
    assert batch["rows_matched"] == 700 and batch["rows_remaining"] == 5000
    assert "UPDATE users SET" in batch["statement"]
    with pg_database.connect() as conn:  # rolled back
        assert conn.execute("SELECT count(email_norm) FROM users").fetchone() == (0,)

    backfill = _cli(root, pg_database, "advance", "0001_email_norm")
    assert backfill.exit_code == 0, backfill.output

    with pg_database.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM users WHERE email_norm IS DISTINCT FROM lower(email)"
        ).fetchone()
    assert row == (0,)

    status = _cli(root, pg_database, "backfill", "status", "0001_email_norm", "--format", "json")
    assert status.exit_code == 0, status.output
    [checkpoint] = json.loads(status.output)["backfills"]
    assert checkpoint["finished"] and checkpoint["remaining"] == 0
    assert checkpoint["rows_done"] == 5000 and checkpoint["batches"] == 8  # ceil(5000 / 700)
    assert "done" in _cli(root, pg_database, "backfill", "status").output

    paused = _cli(root, pg_database, "backfill", "pause", "0001_email_norm")
    assert paused.exit_code == 0 and "paused" in paused.output
    shown = json.loads(_cli(root, pg_database, "backfill", "status", "--format", "json").output)
    assert shown["backfills"][0]["paused"] is True
    resumed = _cli(root, pg_database, "backfill", "resume", "0001_email_norm")
    assert resumed.exit_code == 0 and "resumed" in resumed.output
    shown = json.loads(_cli(root, pg_database, "backfill", "status", "--format", "json").output)
    assert shown["backfills"][0]["paused"] is False


def test_unknown_migration_is_a_usage_error(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(root / "expandctl.toml"),
            "--database-url",
            "postgresql://x@127.0.0.1:1/x",
            "backfill",
            "pause",
            "0009_nope",
        ],
    )
    assert result.exit_code == 2
    assert "no migration '0009_nope'" in result.output


def _tick(rows: int, estimate: int = 1000) -> BackfillProgress:
    return BackfillProgress(
        migration_id="0001_email_norm",
        index=0,
        table="public.users",
        rows_done=rows,
        rows_scanned=rows,
        rows_estimate=estimate,
        rows_per_second=250.0,
        eta_seconds=(estimate - rows) / 250,
        batch_size=100,
        last_batch_ms=42.0,
    )


def test_renderer_draws_a_bar_on_a_terminal() -> None:
    out = io.StringIO()
    render = ProgressRenderer(out, tty=True)
    render(_tick(500))
    render(_tick(1000))
    text = out.getvalue()
    assert text.startswith(
        "\r[##############..............] public.users: 500 rows updated, scanned 50%"
    )
    assert "ETA 0m02s" in text
    assert text.endswith("\n")


def test_renderer_logs_lines_without_a_terminal() -> None:
    out = io.StringIO()
    render = ProgressRenderer(out, tty=False)
    for rows in (100, 200, 300, 1000):  # within a few seconds: first and last only
        render(_tick(rows))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("backfill 0001_email_norm[0] public.users: 100 rows updated")
    assert "100%" in lines[1]


EXAMPLES = Path(__file__).resolve().parents[2] / "migrations"


@pytest.mark.db
def test_the_subcommands_steer_an_operation_backfill_by_any_id_form(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    """0010's backfill comes from its rename_column operation, not from [backfill]."""
    for name in ("0001_create_users", "0010_rename_users_email"):
        shutil.copytree(EXAMPLES / name, tmp_path / "migrations" / name)
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    assert _cli(tmp_path, pg_database, "advance", "0001").exit_code == 0
    with pg_database.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (email, name) SELECT 'u' || g || '@x.org', 'U' FROM"
            " generate_series(1, 300) g"
        )
    expand = _cli(tmp_path, pg_database, "advance", "10")
    assert expand.exit_code == 0, expand.output

    dry = _cli(tmp_path, pg_database, "backfill", "dry-run", "0010", "--format", "json")
    assert dry.exit_code == 0, dry.output
    [batch] = json.loads(dry.output)["batches"]
    assert batch["table"].endswith("users") and batch["rows_remaining"] == 300

    paused = _cli(tmp_path, pg_database, "backfill", "pause", "10")
    assert paused.exit_code == 0, paused.output
    assert "backfill of 0010_rename_users_email paused" in paused.output
    shown = _cli(tmp_path, pg_database, "backfill", "status", "0010", "--format", "json")
    assert shown.exit_code == 0 and json.loads(shown.output)["migration_id"] == (
        "0010_rename_users_email"
    )
    resumed = _cli(tmp_path, pg_database, "backfill", "resume", "0010_rename_users_email")
    assert resumed.exit_code == 0 and "resumed" in resumed.output

    assert _cli(tmp_path, pg_database, "advance", "0010").exit_code == 0  # the backfill
    done = _cli(tmp_path, pg_database, "backfill", "status", "10", "--format", "json")
    [checkpoint] = json.loads(done.output)["backfills"]
    assert checkpoint["finished"] and checkpoint["remaining"] == 0 and not checkpoint["paused"]

    none = _cli(tmp_path, pg_database, "backfill", "pause", "1")
    assert none.exit_code == 2 and "0001_create_users has no backfill" in none.output
