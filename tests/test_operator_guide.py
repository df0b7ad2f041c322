"""docs/operator-guide.md is a checked walk-through: its commands run, their output must match.

Every ```console block of the guide runs top to bottom as a real ``python -m
expandctl`` process (stdout and stderr in one stream, as a terminal shows
them) in a project holding this repository's 0001 and 0003 migrations,
against a fresh database. The conventions are the guide's own (stated at its
top): ``…`` in a line matches any text, a line of only ``…`` any number of
lines, ``(exit N)`` after the output is the exit code (0 otherwise), and
``<!-- test-sql: … -->`` is SQL the test runs at that point.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PROJECT_ROOT, PgDatabase

GUIDE = PROJECT_ROOT / "docs" / "operator-guide.md"
MIGRATIONS = ("0001_create_users", "0003_users_email_normalized")
ANY_LINES = "…"
_BLOCK = re.compile(r"^```console\n(?P<body>.*?)^```|<!-- test-sql: (?P<sql>.*?) -->", re.S | re.M)
_EXIT = re.compile(r"^\(exit (\d+)\)$")

pytestmark = pytest.mark.db


@dataclass
class Command:
    line: int  # in the guide
    argv: list[str]
    expected: list[str] = field(default_factory=list)
    exit_code: int = 0


@dataclass
class Sql:
    line: int
    text: str


def walkthrough(text: str) -> list[Command | Sql]:
    """The guide's commands (with their expected output) and SQL, in page order."""
    items: list[Command | Sql] = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match["sql"] is not None:
            items.append(Sql(line, match["sql"]))
            continue
        for offset, row in enumerate(match["body"].splitlines(), start=1):
            if row.startswith("$ "):
                argv = shlex.split(row[2:])
                assert argv[0] == "expandctl", f"guide line {line + offset}: not expandctl"
                items.append(Command(line + offset, argv[1:]))
            elif offset == 1:
                raise AssertionError(f"guide line {line}: a console block starts with '$ '")
            else:
                assert isinstance(items[-1], Command)
                code = _EXIT.match(row)
                if code:
                    items[-1].exit_code = int(code[1])
                else:
                    items[-1].expected.append(row)
    return items


def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in expected.rstrip().split("…")]
    return re.compile(".*?".join(parts) + r"\Z")


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; ``…`` alone matches any number of lines (backtracking)."""
    patterns = [None if e.strip() == ANY_LINES else _line_pattern(e) for e in expected]
    actual = [a.rstrip() for a in actual]

    def at(i: int, j: int) -> bool:
        if i == len(patterns):
            return j == len(actual)
        pattern = patterns[i]
        if pattern is None:
            return any(at(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and bool(pattern.match(actual[j])) and at(i + 1, j + 1)

    return at(0, 0)


def test_the_matcher_can_fail() -> None:
    """A negative control: the wildcards do not make every output pass."""
    assert matches(["a …s", "…", "z"], ["a 0.01s", "b", "c", "z"])
    assert not matches(["a …s", "z"], ["a 0.01s", "b", "z"])
    assert not matches(["done (1/1 step, …s)"], ["done (1/1 steps, 0.01s)"])
    assert not matches(["x"], ["x", "extra line"])


def test_the_guide_runs_as_written(tmp_path: Path, pg_database: PgDatabase) -> None:
    items = walkthrough(GUIDE.read_text(encoding="utf-8"))
    assert sum(isinstance(i, Command) for i in items) >= 15, "the guide lost its commands"
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    for name in MIGRATIONS:
        shutil.copytree(PROJECT_ROOT / "migrations" / name, tmp_path / "migrations" / name)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXPANDCTL_")},
        "DATABASE_URL": pg_database.url,
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr reach the pipe in the order written
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    for item in items:
        if isinstance(item, Sql):
            with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
                conn.execute(item.text)  # type: ignore[arg-type]
            continue
        done = subprocess.run(
            [sys.executable, "-m", "expandctl", *item.argv],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        shown = done.stdout.splitlines()
        where = f"docs/operator-guide.md:{item.line}: expandctl {shlex.join(item.argv)}"
        assert done.returncode == item.exit_code, f"{where}: exit {done.returncode}\n{done.stdout}"
        assert matches(item.expected, shown), (
            f"{where}: the output differs from the guide\n--- guide:\n"
            + "\n".join(item.expected)
            + "\n--- actual:\n"
            + done.stdout
        )
