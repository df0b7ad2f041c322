"""The lint cache: hits reproduce the linted result; every input change is a miss.

Observed through the CLI: the report (identical with and without the cache),
the exit code, and the ``-v`` statistics line on stderr. No timings.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import expandctl
from expandctl.cli import cli
from expandctl.commands.lint import _PARALLEL_MIN_FILES
from expandctl.lint.cache import LintCache
from expandctl.lint.cache_store import DATABASE_NAME
from tests.conftest import PROJECT_ROOT

INDEX = "CREATE INDEX users_email_idx ON users (email);\n"
SAFE = "ALTER TABLE users ADD COLUMN nickname text;\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two plain files and a migrations directory with two migrations."""
    _write(tmp_path / "expandctl.toml", "pg_version = 15\n")
    _write(tmp_path / "sql" / "a.sql", INDEX)
    _write(tmp_path / "sql" / "b.sql", SAFE)
    first = tmp_path / "migrations" / "0001_add_nickname"
    _write(first / "migration.toml", 'description = "x"\n')
    _write(first / "expand.sql", SAFE)
    _write(first / "expand.down.sql", "ALTER TABLE users DROP COLUMN nickname;\n")
    second = tmp_path / "migrations" / "0002_index_email"
    _write(second / "migration.toml", 'description = "y"\n')
    _write(second / "expand.sql", INDEX)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("EXPANDCTL_CACHE_DIR", raising=False)
    return tmp_path


def _lint(*args: str) -> Result:
    return CliRunner().invoke(cli, ["-v", "lint", "--format", "json", *args])


def _stats(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("lint cache:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _database(folder: Path) -> Path:
    return folder / ".expandctl" / "cache" / "lint" / DATABASE_NAME


def _entries(database: Path) -> list[tuple[str, str, bytes]]:
    """(key, checksum, payload) of every entry, read with SQLite itself."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT key, checksum, payload FROM entries ORDER BY key").fetchall()
    db.close()
    return rows


def _rewrite(database: Path, rows: list[tuple[str, str, bytes]]) -> None:
    with sqlite3.connect(database) as db:
        db.executemany(
            "UPDATE entries SET checksum = ?, payload = ? WHERE key = ?",
            [(checksum, payload, key) for key, checksum, payload in rows],
        )
    db.close()


def test_a_repeated_run_is_a_cached_report_identical_to_linting(project: Path) -> None:
    fresh = CliRunner().invoke(cli, ["lint", "--no-cache", "--format", "json", "sql", "migrations"])
    first = _lint("sql", "migrations")
    second = _lint("sql", "migrations")
    assert first.exit_code == second.exit_code == fresh.exit_code == 1
    assert first.stdout == second.stdout == fresh.stdout
    assert _stats(first) == "lint cache: 0 hit(s), 4 miss(es), 6 written"  # 4 targets
    assert _stats(second) == "lint cache: report hit (nothing linted, nothing rendered)"
    assert json.loads(second.stdout)["summary"]["errors"] == 2


def test_another_format_reuses_the_linted_targets(project: Path) -> None:
    _lint("sql")
    text = CliRunner().invoke(cli, ["-v", "lint", "sql"])
    fresh = CliRunner().invoke(cli, ["lint", "--no-cache", "sql"])
    assert _stats(text) == "lint cache: 2 hit(s), 0 miss(es), 1 written"  # the new report
    assert text.stdout == fresh.stdout
    assert "L101" in text.stdout


def test_a_changed_file_is_linted_again_and_only_it(project: Path) -> None:
    before = json.loads(_lint("sql").stdout)
    assert [f["path"] for f in before["findings"]] == ["sql/a.sql"]
    _write(project / "sql" / "b.sql", INDEX)
    after = _lint("sql")
    assert _stats(after).startswith("lint cache: 1 hit(s), 1 miss(es)")
    assert [f["path"] for f in json.loads(after.stdout)["findings"]] == ["sql/a.sql", "sql/b.sql"]


def test_a_fixed_file_does_not_keep_its_cached_finding(project: Path) -> None:
    assert _lint("sql/a.sql").exit_code == 1
    _write(project / "sql" / "a.sql", SAFE)
    fixed = _lint("sql/a.sql")
    assert fixed.exit_code == 0, fixed.stdout
    assert json.loads(fixed.stdout)["findings"] == []


@pytest.mark.parametrize(
    "change",
    [
        ["--pg-version", "16"],
        ["--select", "L101"],
        ["--ignore", "L101"],
        ["--phase", "contract"],
    ],
)
def test_a_changed_option_is_a_miss(project: Path, change: list[str]) -> None:
    _lint("sql")
    again = _lint(*change, "sql")
    assert _stats(again).startswith("lint cache: 0 hit(s), 2 miss(es)")
    fresh = CliRunner().invoke(cli, ["lint", "--no-cache", "--format", "json", *change, "sql"])
    assert again.stdout == fresh.stdout


def test_a_changed_config_is_a_miss(project: Path) -> None:
    assert _lint("sql").exit_code == 1
    _write(project / "expandctl.toml", 'pg_version = 15\n[lint]\nignore = ["L101"]\n')
    again = _lint("sql")
    assert _stats(again).startswith("lint cache: 0 hit(s), 2 miss(es)")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["findings"] == []


def test_a_config_change_that_keeps_the_lint_settings_reuses_the_results(project: Path) -> None:
    """Keyed on the effective lint settings, not on the config file's bytes."""
    _lint("sql")
    _write(project / "expandctl.toml", "pg_version = 15\nlock_retries = 3\n")
    again = _lint("sql")
    assert _stats(again) == "lint cache: report hit (nothing linted, nothing rendered)"


def test_another_expandctl_version_is_a_miss(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lint("sql")
    monkeypatch.setattr(expandctl, "__version__", "999.0.0")
    again = _lint("sql")
    assert _stats(again).startswith("lint cache: 0 hit(s), 2 miss(es)")


def test_changed_parser_code_is_a_miss(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint covers the analysis packages' files (here a stand-in one)."""
    site = tmp_path_factory.mktemp("site")
    module = _write(site / "fake_parser" / "__init__.py", "VERSION = 1\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr("expandctl.lint.cache._ANALYSIS_PACKAGES", ("fake_parser",))
    _lint("sql")
    assert _stats(_lint("sql")).startswith("lint cache: report hit")
    module.write_text("VERSION = 22\n", encoding="utf-8")  # another size (an upgrade)
    assert _stats(_lint("sql")).startswith("lint cache: 0 hit(s), 2 miss(es)")


def test_no_cache_neither_reads_nor_writes(project: Path) -> None:
    result = CliRunner().invoke(cli, ["-v", "lint", "--no-cache", "sql"])
    assert result.exit_code == 1
    assert "lint cache" not in result.stderr
    assert not (project / ".expandctl").exists()
    _lint("sql")
    _database(project).write_bytes(b"garbage")  # even a poisoned cache is not read
    result = CliRunner().invoke(cli, ["lint", "--no-cache", "sql"])
    assert result.exit_code == 1
    assert "L101" in result.stdout


@pytest.mark.parametrize(
    "damage",
    ["truncate", "garbage", "empty", "payload-edited", "moved", "a-directory"],
)
def test_a_corrupt_entry_is_linted_again_never_trusted(project: Path, damage: str) -> None:
    first = _lint("sql", "migrations")
    database = _database(project)
    entries = _entries(database)
    assert len(entries) == 6  # two files, two folders, the config's facts, the report
    raw = database.read_bytes()
    if damage == "truncate":
        database.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        database.write_bytes(b"\x00\xff not a database" * 100)
    elif damage == "empty":
        database.write_bytes(b"")
    elif damage == "payload-edited":  # findings removed, checksum left as it was
        edited = []
        for key, checksum, payload in entries:
            if payload.startswith(b"failed\n"):  # the rendered report: now it passes
                edited.append((key, checksum, b"passed\n{}"))
                continue
            data = json.loads(payload)
            if isinstance(data, list):
                for item in data:
                    item["findings"] = []
            edited.append((key, checksum, json.dumps(data).encode()))
        _rewrite(database, edited)
    elif damage == "moved":  # a valid entry under another entry's key
        shifted = entries[1:] + entries[:1]
        _rewrite(
            database,
            [(key, *other[1:]) for (key, _, _), other in zip(entries, shifted, strict=True)],
        )
    elif damage == "a-directory":
        for suffix in ("-wal", "-shm", ""):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        database.mkdir()
    again = _lint("sql", "migrations")
    assert again.exit_code == first.exit_code == 1
    assert again.stdout == first.stdout
    assert "0 hit(s)" in _stats(again)
    if damage != "a-directory":  # a damaged file was set aside: the next runs cache again
        _lint("sql", "migrations")
        assert _stats(_lint("sql", "migrations")) == (
            "lint cache: report hit (nothing linted, nothing rendered)"
        )


def test_an_unwritable_cache_folder_only_turns_the_cache_off(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = _write(project / "not-a-folder", "x")
    monkeypatch.setenv("EXPANDCTL_CACHE_DIR", str(blocker / "cache"))
    result = _lint("sql")
    assert result.exit_code == 1
    assert _stats(result) == "lint cache: 0 hit(s), 2 miss(es), 0 written"


def test_cache_dir_can_be_set_by_environment(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("EXPANDCTL_CACHE_DIR", str(elsewhere))
    _lint("sql")
    assert (elsewhere / DATABASE_NAME).is_file()
    assert (elsewhere / ".gitignore").read_text(encoding="utf-8") == "*\n"
    assert not (project / ".expandctl").exists()


# --- migration folders: a unit, keyed on all their files and their siblings ---


def test_any_file_of_a_migration_folder_is_part_of_its_key(project: Path) -> None:
    _lint("migrations")
    folder = project / "migrations" / "0001_add_nickname"
    _write(folder / "expand.down.sql", "ALTER TABLE users DROP COLUMN nickname CASCADE;\n")
    again = _lint("migrations")
    assert _stats(again).startswith("lint cache: 1 hit(s), 1 miss(es)")
    assert "D303" in again.stdout or "drop-cascade" in again.stdout
    _write(folder / "NOTES.md", "why we add a nickname\n")
    assert _stats(_lint("migrations")).startswith("lint cache: 1 hit(s), 1 miss(es)")


def test_a_phase_file_given_alone_reuses_its_migrations_entry(project: Path) -> None:
    whole = _lint("migrations/0002_index_email")
    one = _lint("migrations/0002_index_email/expand.sql")
    assert _stats(one).startswith("lint cache: 1 hit(s), 0 miss(es)")
    fresh = CliRunner().invoke(
        cli, ["lint", "--no-cache", "--format", "json", "migrations/0002_index_email/expand.sql"]
    )
    assert one.stdout == fresh.stdout
    assert json.loads(whole.stdout)["findings"] == json.loads(one.stdout)["findings"]


def test_a_new_sibling_folder_re_checks_the_migrations_directory(project: Path) -> None:
    """Numbers and requires are checked across the directory: a duplicate number
    added next to cached migrations is an error, not a cache hit."""
    assert _lint("migrations").exit_code == 1
    _write(project / "migrations" / "0002_other" / "migration.toml", 'description = "z"\n')
    result = _lint("migrations")
    assert result.exit_code == 2
    assert "duplicate migration number 0002" in result.stderr


def test_a_removed_required_migration_is_an_error_not_a_hit(project: Path) -> None:
    _write(
        project / "migrations" / "0002_index_email" / "migration.toml",
        'description = "y"\nrequires = ["0001_add_nickname"]\n',
    )
    assert _lint("migrations").exit_code == 1
    required = project / "migrations" / "0001_add_nickname"
    for path in required.iterdir():
        path.unlink()
    required.rmdir()
    result = _lint("migrations")
    assert result.exit_code == 2
    assert "requires '0001_add_nickname'" in result.stderr


# --- the store itself ---


def test_entries_are_bounded_least_recently_used_first(tmp_path: Path) -> None:
    keys = [f"{i:064x}" for i in range(12)]
    cache = LintCache(tmp_path / "c", max_bytes=10**6)
    for key in keys:
        cache.put(key, {"text": "x" * 300})
    cache.close()
    assert cache.stats.writes == 12
    cache = LintCache(tmp_path / "c", max_bytes=4000)
    assert cache.get(keys[0]) is not None  # used again: the newest now
    cache.close()
    cache = LintCache(tmp_path / "c", max_bytes=4000)
    removed = cache.prune()
    assert removed > 0
    with sqlite3.connect(tmp_path / "c" / DATABASE_NAME) as db:
        (stored,) = db.execute("SELECT sum(size) FROM entries").fetchone()
    db.close()
    assert stored <= 4000 * 0.8
    assert cache.get(keys[0]) is not None
    assert cache.get(keys[1]) is None  # the least recently used went first
    cache.close()


def test_entries_of_the_old_layout_are_removed(tmp_path: Path) -> None:
    """Earlier versions kept each entry in a file, in one- or two-hex-digit folders."""
    folder = tmp_path / "c"
    old = _write(folder / "a" / f"{'a' * 64}.entry", "expandctl-lint-cache 1 ...")
    _write(folder / "3f" / ".tmp-1-1", "half")
    kept = _write(folder / "notes" / "mine.txt", "not ours")
    cache = LintCache(folder)
    cache.put("k", [1])
    cache.close()
    assert not old.exists() and not old.parent.exists()
    assert not (folder / "3f").exists()
    assert kept.is_file()
    assert LintCache(folder).get("k") == [1]


def test_concurrent_runs_share_the_cache_safely(project: Path) -> None:
    """Two processes linting the same files at once, twice: every output is the
    same complete report (an entry is renamed into place, never half-written)."""
    command = [sys.executable, "-m", "expandctl", "lint", "--format", "json", "sql", "migrations"]
    env = {"PYTHONPATH": str(PROJECT_ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    outputs = []
    for _ in range(2):
        runs = [
            subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        for run in runs:
            stdout, _ = run.communicate(timeout=120)
            assert run.returncode == 1
            outputs.append(stdout)
    assert len(set(outputs)) == 1
    assert json.loads(outputs[0])["summary"]["errors"] == 2


def test_files_linted_by_workers_are_cached_as_serially(project: Path) -> None:
    """From 64 files on, forked workers read and lint the files: the report, the
    counts and the entries are those of one process."""
    count = _PARALLEL_MIN_FILES + 6
    for i in range(count):
        _write(project / "many" / f"f{i:03}.sql", INDEX if i % 5 == 0 else SAFE)
    fresh = CliRunner().invoke(cli, ["lint", "--no-cache", "--format", "json", "many"])
    first = _lint("many")
    assert first.exit_code == fresh.exit_code == 1
    assert first.stdout == fresh.stdout
    assert _stats(first) == f"lint cache: 0 hit(s), {count} miss(es), {count + 2} written"
    # the files, the config's facts, the report
    assert len(_entries(_database(project))) == count + 2
    _write(project / "many" / "f001.sql", INDEX)
    again = _lint("many")
    assert _stats(again) == f"lint cache: {count - 1} hit(s), 1 miss(es), 2 written"
    assert (
        again.stdout
        == CliRunner().invoke(cli, ["lint", "--no-cache", "--format", "json", "many"]).stdout
    )


def test_an_unreadable_file_among_many_fails_as_it_does_alone(project: Path) -> None:
    """A worker that cannot read a file stops the run with the loader's error,
    the first in file order, as one process would."""
    for i in range(_PARALLEL_MIN_FILES + 6):
        _write(project / "many" / f"f{i:03}.sql", SAFE)
    for bad in ("f040.sql", "f055.sql"):
        (project / "many" / bad).write_bytes(b"SELECT 1;\x01\n")
    many = CliRunner().invoke(cli, ["lint", "many"])
    alone = CliRunner().invoke(cli, ["lint", "many/f040.sql"])
    assert many.exit_code == alone.exit_code == 2
    assert "f040.sql:1" in many.stderr
    assert many.stderr == alone.stderr
