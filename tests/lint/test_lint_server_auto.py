"""``EXPANDCTL_LINT_SERVER=auto``: a lint that finds no server starts one in the
background and lints in-process meanwhile; the next lint goes through it."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lint.test_lint_server import ERRORS_SQL, Server, _wait_until, expandctl, socket_dir

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the lint server needs Linux"
)
__all__ = ["socket_dir"]  # the fixture, shared


@pytest.fixture
def auto(socket_dir: Path) -> Iterator[Server]:
    server = Server(socket_dir)
    server.env["EXPANDCTL_LINT_SERVER"] = "auto"
    try:
        yield server
    finally:
        server.stop()


def _socket(directory: Path) -> list[Path]:
    return list(directory.glob("lint-*.sock"))


def test_the_first_lint_starts_a_server_and_the_next_one_uses_it(
    auto: Server, tmp_path: Path
) -> None:
    (tmp_path / "a.sql").write_text(ERRORS_SQL, encoding="utf-8")
    off = {**auto.env, "EXPANDCTL_LINT_SERVER": "0"}
    in_process = expandctl("lint", "--no-cache", str(tmp_path / "a.sql"), env=off)

    first = auto.cli("lint", "--no-cache", str(tmp_path / "a.sql"))
    assert (first.returncode, first.stdout, first.stderr) == (
        in_process.returncode,
        in_process.stdout,
        in_process.stderr,
    )
    assert first.returncode == 1  # the findings, linted in-process this time
    assert _wait_until(lambda: bool(_socket(auto.directory)), 60), "no server started"
    assert _wait_until(lambda: auto.status()["running"] is True, 30)
    served = auto.requests()

    second = auto.cli("lint", "--no-cache", str(tmp_path / "a.sql"))
    assert (second.returncode, second.stdout) == (in_process.returncode, in_process.stdout)
    assert auto.requests() == served + 1  # this one went through the server


def _daemons(directory: Path) -> list[int]:
    """Live lint-server processes serving ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"run_daemon" in a for a in argv) and str(directory).encode() in argv:
            found.append(int(entry.name))
    return found


def test_runs_close_together_leave_one_server(auto: Server, tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("SELECT 1;\n", encoding="utf-8")
    for _ in range(3):
        assert auto.cli("lint", str(tmp_path / "a.sql")).returncode == 0
    assert _wait_until(lambda: bool(_socket(auto.directory)), 60)
    assert _wait_until(lambda: auto.status()["running"] is True, 30)
    time.sleep(1)  # any second start would have bound by now
    assert _daemons(auto.directory) == [auto.pid()]


def test_without_auto_no_server_is_started(socket_dir: Path, tmp_path: Path) -> None:
    server = Server(socket_dir)
    (tmp_path / "a.sql").write_text("SELECT 1;\n", encoding="utf-8")
    assert server.cli("lint", str(tmp_path / "a.sql")).returncode == 0
    assert not _wait_until(lambda: bool(_socket(socket_dir)), 2)
