"""``expandctl lint --changed-since REF`` in a real git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from expandctl.cli import cli

INDEX = "CREATE INDEX users_email_idx ON users (email);\n"
SAFE = "ALTER TABLE users ADD COLUMN nickname text;\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main: two migrations and a plain file; then a branch ``feature`` checked out."""
    for name, value in {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_COLOR", "1")
    _write(tmp_path / "expandctl.toml", "pg_version = 15\n")
    _write(tmp_path / ".gitignore", ".expandctl/\n")
    for number, slug in ((1, "first"), (2, "second")):
        folder = tmp_path / "migrations" / f"{number:04d}_{slug}"
        _write(folder / "migration.toml", f'description = "{slug}"\n')
        _write(folder / "expand.sql", SAFE.replace("nickname", slug))
    _write(tmp_path / "sql" / "old.sql", SAFE)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "base")
    _git(tmp_path, "checkout", "-q", "-b", "feature")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _lint(*args: str) -> Result:
    return CliRunner().invoke(cli, ["lint", "--format", "json", "--changed-since", "main", *args])


def _files(result: Result) -> list[str]:
    return [f["path"] for f in json.loads(result.stdout)["files"]]


def test_a_committed_change_selects_its_whole_migration(repo: Path) -> None:
    _write(repo / "migrations" / "0002_second" / "expand.down.sql", "SELECT 1;\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "rollback for 0002")
    result = _lint()
    assert result.exit_code == 0, result.output
    # the whole folder (its expand.sql did not change), not 0001
    assert _files(result) == [
        "migrations/0002_second/expand.sql",
        "migrations/0002_second/expand.down.sql",
    ]


def test_uncommitted_and_untracked_changes_count(repo: Path) -> None:
    _write(repo / "migrations" / "0001_first" / "expand.sql", INDEX)  # unstaged edit
    new = repo / "migrations" / "0003_third"
    _write(new / "migration.toml", 'description = "third"\n')  # untracked
    _write(new / "expand.sql", SAFE)
    result = _lint()
    assert result.exit_code == 1
    assert _files(result) == [
        "migrations/0001_first/expand.sql",
        "migrations/0003_third/expand.sql",
    ]
    assert [f["rule_id"] for f in json.loads(result.stdout)["findings"]] == ["L101"]


def test_changes_already_on_the_base_branch_are_not_counted(repo: Path) -> None:
    """REF...HEAD: from the merge base, as a pull request's diff."""
    _git(repo, "checkout", "-q", "main")
    _write(repo / "migrations" / "0001_first" / "expand.sql", INDEX)
    _git(repo, "commit", "-q", "-am", "a change on main")
    _git(repo, "checkout", "-q", "feature")
    _write(repo / "migrations" / "0002_second" / "migration.toml", 'description = "2"\n')
    _git(repo, "commit", "-q", "-am", "a change on the branch")
    result = _lint()
    assert _files(result) == ["migrations/0002_second/expand.sql"]


def test_plain_sql_files_in_the_given_paths(repo: Path) -> None:
    _write(repo / "sql" / "new.sql", INDEX)
    result = _lint("sql", "migrations")
    assert result.exit_code == 1
    assert _files(result) == ["sql/new.sql"]  # old.sql and the migrations did not change


def test_a_file_deleted_from_a_migration_selects_the_migration(repo: Path) -> None:
    _git(repo, "checkout", "-q", "main")
    _write(repo / "migrations" / "0001_first" / "expand.down.sql", "SELECT 1;\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a rollback on main")
    _git(repo, "checkout", "-q", "-b", "other")
    _git(repo, "rm", "-q", "migrations/0001_first/expand.down.sql")
    assert _files(_lint()) == ["migrations/0001_first/expand.sql"]


def test_nothing_changed_is_an_empty_passing_report(repo: Path) -> None:
    result = _lint()
    assert result.exit_code == 0
    assert _files(result) == []
    assert "nothing to lint: no migration or .sql file changed since main" in result.stderr


def test_a_changed_file_elsewhere_selects_nothing(repo: Path) -> None:
    _write(repo / "README.md", "docs\n")
    _write(repo / "migrations" / "README.md", "notes\n")
    assert _files(_lint()) == []


def test_an_unknown_ref_is_exit_2(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["lint", "--changed-since", "no-such-branch"])
    assert result.exit_code == 2
    assert "--changed-since 'no-such-branch': unknown git revision" in result.stderr


def test_a_ref_that_looks_like_an_option_is_refused(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["lint", "--changed-since=--output=/tmp/x"])
    assert result.exit_code == 2
    assert "not a git revision" in result.stderr


def test_outside_a_git_repository_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    _write(tmp_path / "a.sql", SAFE)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["lint", "--changed-since", "main", "a.sql"])
    assert result.exit_code == 2
    assert "--changed-since needs a git repository" in result.stderr
