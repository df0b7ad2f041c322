"""What ``expandctl --help`` and a cached ``expandctl lint`` import: the start-up
budget is kept by not importing, so the test checks ``sys.modules`` of a real
process (no timings; bench/lint_bench.py measures them)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from expandctl.cli.app import COMMAND_HELP, COMMANDS, cli
from tests.conftest import PROJECT_ROOT

# Records the modules loaded when the process exits, then runs the CLI.
WRAPPER = """
import atexit, json, sys
RECORD = sys.argv[1]
def _dump():
    with open(RECORD, "w") as out:
        json.dump(sorted(sys.modules), out)
atexit.register(_dump)
sys.argv = ["expandctl", *sys.argv[2:]]
from expandctl.cli import main
main()
"""
HEAVY = ("sqlglot", "pydantic", "psycopg", "pglast")
LINT_MACHINERY = ("expandctl.lint.registry", "expandctl.lint.runner", "expandctl.loader.migrations")


def _modules(tmp_path: Path, cwd: Path, *args: str) -> tuple[int, set[str]]:
    record = tmp_path / "modules.json"
    env = {"PYTHONPATH": str(PROJECT_ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(record), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, set(json.loads(record.read_text(encoding="utf-8")))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in names or m in names)


def test_help_imports_no_command_and_no_heavy_library(tmp_path: Path) -> None:
    code, modules = _modules(tmp_path, tmp_path, "--help")
    assert code == 0
    assert _loaded(modules, HEAVY) == []
    assert sorted(m for m in modules if m.startswith("expandctl.cli.cmd_")) == []


def test_a_cached_lint_imports_neither_parser_nor_pydantic(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "one.sql").write_text("CREATE INDEX i ON users (email);\n", encoding="utf-8")
    code, cold = _modules(tmp_path, project, "lint", "one.sql")
    assert code == 1
    assert "pglast.parser" in cold  # the first run lints: the check below can fail
    code, warm = _modules(tmp_path, project, "lint", "one.sql")
    assert code == 1  # the cached finding still fails the gate
    assert _loaded(warm, HEAVY) == []
    assert sorted(m for m in warm if m in LINT_MACHINERY) == []
    # a changed file is linted again, with everything that takes
    (project / "one.sql").write_text("SELECT 1;\n", encoding="utf-8")
    code, changed = _modules(tmp_path, project, "lint", "one.sql")
    assert code == 0
    assert "expandctl.lint.runner" in changed


def test_ddl_is_read_without_loading_sqlglot(tmp_path: Path) -> None:
    """DDL is read from PostgreSQL's scanner's tokens; sqlglot (0.1 s, 20 MB to
    import) is loaded only for a statement that needs its tree."""
    project = tmp_path / "project"
    project.mkdir()
    ddl = "ALTER TABLE users ADD COLUMN age int;\nCREATE INDEX i ON users (email);\n"
    (project / "ddl.sql").write_text(ddl, encoding="utf-8")
    code, modules = _modules(tmp_path, project, "lint", "--no-cache", "ddl.sql")
    assert code == 1  # CREATE INDEX without CONCURRENTLY: the file was linted
    assert "expandctl.lint.classify" in modules
    assert _loaded(modules, ("sqlglot",)) == []
    merge = "MERGE INTO users u USING src s ON u.id = s.id WHEN MATCHED THEN DELETE;\n"
    (project / "dml.sql").write_text(merge, encoding="utf-8")
    code, modules = _modules(tmp_path, project, "lint", "--no-cache", "dml.sql")
    assert "sqlglot" in modules


def test_the_help_registry_matches_every_command() -> None:
    """COMMAND_HELP is what each command would print, at any width."""
    ctx = click.Context(cli)
    assert set(COMMAND_HELP) <= set(COMMANDS)
    for name, text in COMMAND_HELP.items():
        command = cli.get_command(ctx, name)
        assert command is not None
        for limit in (20, 45, 74, 200):
            expected = command.get_short_help_str(limit)
            shown = click.Command(name, help=text).get_short_help_str(limit)
            assert shown == expected, name


@pytest.mark.parametrize("name", ["MANIFEST_NAME", "MIGRATION_ID", "SQL_FILE_NAMES"])
def test_the_target_finders_names_are_the_loaders(name: str) -> None:
    from expandctl.commands import lint_targets
    from expandctl.loader.checksums import MANIFEST_NAME
    from expandctl.model.manifest import MIGRATION_ID
    from expandctl.model.sqlfiles import SQL_FILE_NAMES

    canonical = {
        "MANIFEST_NAME": MANIFEST_NAME,
        "MIGRATION_ID": MIGRATION_ID,
        "SQL_FILE_NAMES": SQL_FILE_NAMES,
    }[name]
    ours = getattr(lint_targets, name)
    if isinstance(canonical, re.Pattern):
        assert ours.pattern == canonical.pattern
    else:
        assert ours == canonical


# Registers an exit handler and an object freed only by the interpreter's teardown.
EXIT_WRAPPER = """
import atexit, sys
from pathlib import Path
MARKS = Path(sys.argv[1])
atexit.register(lambda: (MARKS / "exit-handler").write_text("ran"))
class FreedAtTeardown:
    def __del__(self):
        (MARKS / "teardown").write_text("ran")
kept = FreedAtTeardown()
sys.argv = ["expandctl", *sys.argv[2:]]
from expandctl.cli import main
main()
"""


def test_lint_leaves_without_teardown_its_output_flushed_its_exit_handlers_run(
    tmp_path: Path,
) -> None:
    """``expandctl lint`` skips the interpreter's teardown (tens of ms after a big
    run): the report still arrives whole through a pipe, with the exit code."""
    sql = tmp_path / "many.sql"
    sql.write_text("CREATE INDEX i ON users (email);\n" * 2000, encoding="utf-8")
    env = {"PYTHONPATH": str(PROJECT_ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            EXIT_WRAPPER,
            str(tmp_path),
            "lint",
            "--no-cache",
            "--format",
            "json",
            str(sql),
        ],
        cwd=tmp_path,
        env={**env, "EXPANDCTL_LINT_SERVER": "0"},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)  # complete: every byte flushed before leaving
    assert report["summary"]["errors"] == 2000
    assert (tmp_path / "exit-handler").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()
    other = subprocess.run(
        [sys.executable, "-c", EXIT_WRAPPER, str(tmp_path), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert other.returncode == 0
    assert (tmp_path / "teardown").read_text() == "ran"  # other commands end as usual
