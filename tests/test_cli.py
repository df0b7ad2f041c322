"""The CLI shell: version, help everywhere, new, list, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from expandctl import __version__
from expandctl.cli import cli
from expandctl.loader.migrations import load_migrations

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
