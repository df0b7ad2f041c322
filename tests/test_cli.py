"""The CLI shell: version, help everywhere, new, list, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from subprocess import CompletedProcess

import click
import psycopg
import pytest
from click.testing import CliRunner

from expandctl import __version__
from expandctl.cli import cli
from expandctl.cli.backfill_numbers import wall_rate
from expandctl.cli.errors import hoist_global_options
from expandctl.engine.backfill import BackfillCheckpoint
from expandctl.loader.migrations import load_migrations
from tests.conftest import PgDatabase

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _expandctl_on_this_project(*args: str) -> list[str]:
    """The command line of a real ``python -m expandctl`` process on this repository."""
    return [
        sys.executable,
        "-m",
        "expandctl",
        "--config",
        str(PROJECT_ROOT / "pyproject.toml"),
        *args,
    ]


def project(tmp_path: Path) -> Path:
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    return tmp_path


def invoke(runner: CliRunner, root: Path, *args: str) -> click.testing.Result:
    return runner.invoke(cli, ["--config", str(root / "expandctl.toml"), *args])


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def all_command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{name} is registered but does not load"
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(all_command_paths(command, (*prefix, name)))
    return paths


def test_registry_lists_every_command() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    for expected in ("new", "list", "lint", "status", "plan", "advance", "rollback", "history"):
        assert expected in names


@pytest.mark.parametrize("path", [(), *all_command_paths(cli)], ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(runner: CliRunner, path: tuple[str, ...]) -> None:
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_new_creates_numbered_folders_that_load(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    first = invoke(runner, root, "new", "create_users")
    assert first.exit_code == 0, first.output
    second = invoke(runner, root, "new", "add-email", "-m", 'Add "email" column')
    assert second.exit_code == 0, second.output
    folder = root / "migrations" / "0002_add_email"
    assert (folder / "migration.toml").is_file()
    assert (folder / "expand.sql").read_text().startswith("-- expand.sql: ")  # comments only
    assert (folder / "switch-writes.down.sql").exists()
    loaded = load_migrations(root / "migrations")
    assert loaded.ids == ["0001_create_users", "0002_add_email"]
    assert loaded.migrations[1].description == 'Add "email" column'


def test_new_json_output(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    result = invoke(runner, root, "new", "first", "--format", "json")
    data = json.loads(result.output)
    assert data["id"] == "0001_first"
    assert "migration.toml" in data["files"]


def test_new_rejects_a_bad_slug(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    result = invoke(runner, root, "new", "Drop Table!")
    assert result.exit_code == 2
    assert "slug" in result.output
    assert not (root / "migrations").exists() or not any((root / "migrations").iterdir())


def test_list_text_and_json(runner: CliRunner) -> None:
    config = str(PROJECT_ROOT / "pyproject.toml")
    text = runner.invoke(cli, ["--config", config, "list"])
    assert text.exit_code == 0
    assert "0001_create_users" in text.output and "Create the users table" in text.output
    as_json = runner.invoke(cli, ["--config", config, "list", "--format", "json"])
    data = json.loads(as_json.output)
    ids = [m["id"] for m in data["migrations"]]
    assert ids[:2] == ["0001_create_users", "0002_add_users_nickname"]
    assert data["migrations"][1]["requires"] == ["0001_create_users"]


def test_bad_manifest_is_one_line_and_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    folder = root / "migrations" / "0001_bad"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text('description = "x"\nfrobnicate = true\n')
    result = invoke(runner, root, "list")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "0001_bad/migration.toml:2: unknown key 'frobnicate'" in lines[0]
    assert "Traceback" not in result.output


def test_verbose_shows_the_traceback(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "migrations" / "0001_bad").mkdir(parents=True)
    result = runner.invoke(cli, ["--config", str(root / "expandctl.toml"), "-v", "list"])
    assert result.exit_code == 2
    assert "Traceback" in result.output
    assert "migration folder is empty" in result.output


def test_config_typo_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "expandctl.toml").write_text('migration_dir = "m"\n')
    result = runner.invoke(cli, ["--config", str(tmp_path / "expandctl.toml"), "list"])
    assert result.exit_code == 2
    assert "unknown key 'migration_dir'" in result.output


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["frobnicate"])
    assert result.exit_code == 2


def test_password_never_appears_in_errors(runner: CliRunner, tmp_path: Path) -> None:
    secret_url = "postgresql://alice:hunter2-secret@127.0.0.1:1/db"
    root = project(tmp_path)
    (root / "migrations" / "0001_bad").mkdir(parents=True)
    result = runner.invoke(
        cli, ["--database-url", secret_url, "--config", str(root / "expandctl.toml"), "-v", "list"]
    )
    assert result.exit_code == 2
    assert "hunter2-secret" not in result.output


def test_console_script_runs_and_respects_no_color(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        _expandctl_on_this_project("list"),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "0001_create_users" in result.stdout
    assert "\x1b[" not in result.stdout


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_no_color_turns_colour_off_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from expandctl.cli.output import color_enabled

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert color_enabled(_Terminal())
    monkeypatch.setenv("NO_COLOR", "")
    assert not color_enabled(_Terminal())


def test_a_closed_pipe_is_not_an_internal_error() -> None:
    """`expandctl lint --format json | head -c0`: the reader leaves before we write."""
    process = subprocess.Popen(
        _expandctl_on_this_project("list", "--format", "json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "internal error" not in stderr and "Traceback" not in stderr


# --- operating (#15): global options anywhere, plan/advance output, exit codes, wording ---


def _run(root: Path, url: str, *args: str, env: dict[str, str] | None = None) -> CompletedProcess:
    """A real ``python -m expandctl`` in ``root``: stdout and stderr in the order written."""
    return subprocess.run(
        [sys.executable, "-m", "expandctl", *args],
        cwd=root,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("EXPANDCTL_")},
            "DATABASE_URL": url,
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(PROJECT_ROOT),
            **(env or {}),
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


def _repo_project(tmp_path: Path, *names: str) -> Path:
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    for name in names:
        shutil.copytree(PROJECT_ROOT / "migrations" / name, tmp_path / "migrations" / name)
    return tmp_path


def test_global_options_after_the_command_are_moved_before_it() -> None:
    ctx = click.Context(cli)
    hoisted = hoist_global_options(cli, ctx, ["status", "--embedded", "--format", "json"])
    assert hoisted == ["--embedded", "status", "--format", "json"]
    args = ["advance", "0003", "--accept-risk", "--embedded", "-vv", "--config=x.toml"]
    # an option's value is never taken for an option; -vv and --opt=value move whole
    assert hoist_global_options(cli, ctx, args) == [
        "-vv",
        "--config=x.toml",
        "advance",
        "0003",
        "--accept-risk",
        "--embedded",
    ]
    after_dashes = ["lint", "--", "--quiet"]
    assert hoist_global_options(cli, ctx, after_dashes) == after_dashes
    nested = ["backfill", "status", "0003", "--database-url", "postgresql://h/db", "-q"]
    assert hoist_global_options(cli, ctx, nested) == [
        "--database-url",
        "postgresql://h/db",
        "-q",
        "backfill",
        "status",
        "0003",
    ]


def test_embedded_and_a_database_url(runner: CliRunner, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "migrations").mkdir()
    both = invoke(runner, root, "list", "--embedded", "--database-url", "postgresql://h/db")
    assert both.exit_code == 2
    assert "error: --embedded and --database-url both name the database to use" in both.output
    warned = _run(
        root,
        "postgresql://app:s3cret@db.example:6432/app",
        "list",
        "--embedded",
    )
    assert warned.returncode == 0, warned.stdout
    assert (
        "warning: --embedded wins: using the embedded PostgreSQL under .expandctl/, "
        "not app@db.example:6432/app from DATABASE_URL"
    ) in warned.stdout
    assert "s3cret" not in warned.stdout


@pytest.mark.db
def test_status_names_the_database_it_reads_and_accepts_options_after(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    root = _repo_project(tmp_path, "0001_create_users")
    shown = _run(
        root, "postgresql://nowhere.invalid/x", "status", "--database-url", pg_database.url
    )
    assert shown.returncode == 0, shown.stdout
    first = shown.stdout.splitlines()[0]
    assert first.startswith("database: ") and first.endswith(f"/{pg_database.name}")
    assert "nowhere.invalid" not in shown.stdout


@pytest.mark.db
def test_plan_folds_checks_and_bodies_and_v_shows_them(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    root = _repo_project(tmp_path, "0001_create_users", "0010_rename_users_email")
    assert _run(root, pg_database.url, "advance", "0001").returncode == 0
    short = _run(root, pg_database.url, "plan", "0010")
    full = _run(root, pg_database.url, "plan", "0010", "-v")
    assert short.returncode == full.returncode == 0, short.stdout + full.stdout
    assert "  1-7. 7 catalog checks pass (-v shows each)" in short.stdout
    assert "check: SELECT" not in short.stdout and "check: SELECT" in full.stdout
    assert "… 20 lines of body (-v shows them)" in short.stdout
    assert "#variable_conflict" not in short.stdout and "#variable_conflict" in full.stdout
    # what a reviewer needs is still there
    for needed in ('ADD COLUMN "email_address" text', 'CREATE TRIGGER "expandctl_0010_users'):
        assert needed in short.stdout
    assert "lint: no findings in these steps" in short.stdout
    assert len(short.stdout.splitlines()) * 2 < len(full.stdout.splitlines())


@pytest.mark.db
def test_advance_logs_one_line_per_step_and_v_logs_the_sql(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    root = _repo_project(tmp_path, "0001_create_users", "0010_rename_users_email")
    first = _run(root, pg_database.url, "advance", "0001")
    assert "0001_create_users: expand done (2/2 steps, " in first.stdout
    assert "next: backfill, switch-reads, switch-writes and contract run nothing; " in first.stdout
    ran = _run(root, pg_database.url, "advance", "0010")
    assert ran.returncode == 0, ran.stdout
    lines = ran.stdout.splitlines()
    assert "#variable_conflict" not in ran.stdout
    step_lines = [line for line in lines if line.startswith("[")]
    assert len(step_lines) == 11
    assert step_lines[9].startswith(
        '[10/11] transaction CREATE FUNCTION "expandctl_0010_users_email_sync"() RETURNS trigger'
    )
    assert step_lines[9].endswith("AS $expandctl$ … $expandctl$")
    assert step_lines[0] == (
        "[1/11] transaction catalog check (refuses if table users does not exist)"
    )
    # -v: the whole statement after its line (on a rollback, the next run of the same steps)
    back = _run(root, pg_database.url, "rollback", "0010", "--yes", "-v")
    assert back.returncode == 0, back.stdout
    again = _run(root, pg_database.url, "-v", "advance", "0010")
    assert "#variable_conflict use_column" in again.stdout


@pytest.mark.db
def test_an_empty_contract_needs_no_yes_and_a_migration_records_its_empty_phases(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    root = _repo_project(tmp_path, "0001_create_users")
    done = _run(root, pg_database.url, "advance", "0001", "--to", "contract")
    assert done.returncode == 0, done.stdout
    for phase in ("backfill", "switch-reads", "switch-writes", "contract"):
        assert f"0001_create_users: {phase} done (nothing to run, " in done.stdout
    history = _run(root, pg_database.url, "history", "0001")
    assert history.stdout.count("phase ok") == 5  # each phase recorded on its own


@pytest.mark.db
def test_rollback_exit_codes(tmp_path: Path, pg_database: PgDatabase) -> None:
    """Nothing to undo is success (0); undo that cannot be done is refused (4)."""
    root = _repo_project(tmp_path, "0001_create_users")
    pending = _run(root, pg_database.url, "rollback", "0001", "--yes")
    assert pending.returncode == 0
    assert "0001_create_users is pending: there is nothing to roll back" in pending.stdout
    assert _run(root, pg_database.url, "advance", "0001", "--to", "contract").returncode == 0
    contracted = _run(root, pg_database.url, "rollback", "0001", "--yes")
    assert contracted.returncode == 4
    assert "error: 0001_create_users is contracted" in contracted.stdout


@pytest.mark.db
def test_ctrl_c_says_what_is_saved_and_the_numbers_say_what_they_count(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    """SIGINT mid-backfill: a resume hint, not a bare 'interrupted'; then the backfill's
    numbers: the real rate stays under the throttle, the in-batch rate is labelled as such."""
    root = _repo_project(tmp_path)
    folder = root / "migrations" / "0001_fill"
    folder.mkdir(parents=True)
    (folder / "expand.sql").write_text(
        "CREATE TABLE items (id bigint PRIMARY KEY, v int, w int);\n"
        "INSERT INTO items SELECT g, g FROM generate_series(1, 6000) AS g;\n"
        "ANALYZE items;\n"
    )
    (folder / "migration.toml").write_text(
        'description = "fill w"\n[backfill]\ntable = "items"\nset = { w = "v" }\n'
        'where = "w IS DISTINCT FROM v"\nbatch_size = 100\nmax_rows_per_second = 1000\n'
    )
    assert _run(root, pg_database.url, "advance", "0001").returncode == 0
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXPANDCTL_")},
        "DATABASE_URL": pg_database.url,
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    running = subprocess.Popen(
        [sys.executable, "-m", "expandctl", "advance", "0001"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        for _ in range(600):  # until some batches are committed (at most a minute)
            row = conn.execute(
                "SELECT rows_done FROM expandctl.backfill_checkpoints"
                " WHERE migration_id = '0001_fill'"
            ).fetchone()
            if row and row[0] >= 500:
                break
            time.sleep(0.1)
    running.send_signal(signal.SIGINT)
    out, _ = running.communicate(timeout=60)
    assert running.returncode == 130, out
    assert (
        "error: interrupted during backfill of 0001_fill; batches committed so far are saved "
        "(run 'expandctl advance 0001_fill' to resume; 'expandctl status' shows where it stopped)"
    ) in out
    stopped = _run(root, pg_database.url, "status")
    assert "!! 0001_fill was INTERRUPTED mid-backfill" in stopped.stdout
    resumed = _run(root, pg_database.url, "advance", "0001")
    assert resumed.returncode == 0, resumed.stdout
    assert "0001_fill: backfill done (1/1 step, " in resumed.stdout
    assert "resumed at step 1" not in resumed.stdout  # step 1 is where it stopped: nothing ran
    shown = _run(root, pg_database.url, "backfill", "status", "0001")
    line = shown.stdout.strip()
    assert ": done, 6,000 rows updated in pass 1, all runs (table ~6,000 rows)" in line
    assert "rows/s since the pass started (waits and pauses included)" in line
    data = json.loads(_run(root, pg_database.url, "backfill", "status", "--format", "json").stdout)
    [checkpoint] = data["backfills"]
    real = wall_rate(BackfillCheckpoint.model_validate(checkpoint))
    assert real is not None and real <= 1000 * 1.1  # the throttle holds over the run
    assert checkpoint["rows_per_second"] > real  # the in-batch rate is not the real one
