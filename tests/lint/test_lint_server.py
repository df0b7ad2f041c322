"""``expandctl lint-server``: a real server process on a socket in a private temporary
directory; every lint through it must equal the in-process run byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from expandctl.cli.lint_client import call, server_key
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the lint server needs Linux"
)

ERRORS_SQL = "CREATE INDEX users_email_idx ON users (email);\nALTER TABLE users DROP COLUMN name;\n"
CLEAN_SQL = "CREATE TABLE teams (id bigint PRIMARY KEY);\nSELECT 1;\n"
SYNTAX_SQL = "ALTER TABLE users ADD COLUMN;\n"
# Records the modules loaded when the client exits (as tests/lint/test_startup.py does).
WRAPPER = """
import atexit, json, sys
RECORD = sys.argv[1]
atexit.register(lambda: json.dump(sorted(sys.modules), open(RECORD, "w")))
sys.argv = ["expandctl", *sys.argv[2:]]
from expandctl.cli import main
main()
"""


class Server:
    """One ``lint-server`` in ``directory``; ``env`` reaches it, ``inprocess`` does not."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("EXPANDCTL_", "NO_COLOR"))
        }
        self.env["PYTHONPATH"] = str(PROJECT_ROOT)
        self.env["EXPANDCTL_LINT_SERVER_DIR"] = str(directory)

    def cli(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return expandctl(*args, env=self.env, **kwargs)  # type: ignore[arg-type]

    def start(self, *args: str) -> int:
        done = self.cli("lint-server", "start", *args)
        assert done.returncode == 0, done.stderr
        status = self.status()
        assert status["running"], status
        return int(status["pid"])

    def status(self) -> dict[str, object]:
        done = self.cli("lint-server", "status", "--format", "json")
        assert done.returncode == 0, done.stderr
        found: dict[str, object] = json.loads(done.stdout)
        return found

    def requests(self) -> int:
        return int(self.status()["requests"])  # type: ignore[call-overload]

    def stop(self) -> None:
        pid = self.status().get("pid")
        self.cli("lint-server", "stop")
        if isinstance(pid, int) and _alive(pid):  # never leave one behind
            os.kill(pid, signal.SIGKILL)


def expandctl(
    *args: str, env: dict[str, str], cwd: Path | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "expandctl", *args],
        env=env,
        cwd=cwd,
        input=input,
        capture_output=True,
        timeout=120,
    )


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Short (a socket path has 107 bytes at most) and 0700, as mkdtemp makes it.
    directory = Path(tempfile.mkdtemp(prefix="exls-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def server(socket_dir: Path) -> Iterator[Server]:
    running = Server(socket_dir)
    try:
        running.start("--idle-timeout", "2min")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[Server]:
    """One server for the byte-for-byte comparisons (starting one takes a second)."""
    directory = Path(tempfile.mkdtemp(prefix="exls-", dir="/tmp"))
    running = Server(directory)
    try:
        running.start("--idle-timeout", "2min")
        yield running
    finally:
        running.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "errors.sql").write_text(ERRORS_SQL, encoding="utf-8")
    (project / "clean.sql").write_text(CLEAN_SQL, encoding="utf-8")
    (project / "syntax.sql").write_text(SYNTAX_SQL, encoding="utf-8")
    return project


CASES = {
    "clean file": (("lint", "clean.sql"), None),
    "file with errors": (("lint", "errors.sql"), None),
    "json": (("lint", "--format", "json", "errors.sql"), None),
    "sarif": (("lint", "--format", "sarif", "errors.sql", "clean.sql"), None),
    "stdin": (("lint", "--phase", "contract", "-"), ERRORS_SQL.encode()),
    "syntax error": (("lint", "syntax.sql"), None),
    "usage error": (("lint", "--format", "nope", "errors.sql"), None),
    "global option after the command": (("lint", "errors.sql", "-q", "--fail-on", "warning"), None),
    "migration folder": (("lint", f"{PROJECT_ROOT}/migrations/0011_split_users_name"), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_through_the_server_equals_in_process(
    shared_server: Server, tmp_path: Path, case: str
) -> None:
    args, stdin = CASES[case]
    project = _project(tmp_path)
    caches = tmp_path / "cache-server", tmp_path / "cache-inprocess"
    before = shared_server.requests()
    served = expandctl(
        *args,
        env={**shared_server.env, "EXPANDCTL_CACHE_DIR": str(caches[0])},
        cwd=project,
        input=stdin,
    )
    assert shared_server.requests() == before + 1  # it really went through the server
    alone = expandctl(
        *args,
        env={
            **shared_server.env,
            "EXPANDCTL_CACHE_DIR": str(caches[1]),
            "EXPANDCTL_LINT_SERVER": "0",
        },
        cwd=project,
        input=stdin,
    )
    assert shared_server.requests() == before + 1  # ... and this one did not
    assert (served.returncode, served.stdout, served.stderr) == (
        alone.returncode,
        alone.stdout,
        alone.stderr,
    )
    assert served.stdout or served.stderr


def test_exit_codes_and_the_cache_are_the_in_process_ones(
    shared_server: Server, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    env = {**shared_server.env, "EXPANDCTL_CACHE_DIR": str(tmp_path / "cache")}
    assert expandctl("lint", "errors.sql", env=env, cwd=project).returncode == 1
    assert expandctl("lint", "clean.sql", env=env, cwd=project).returncode == 0
    assert expandctl("lint", "syntax.sql", env=env, cwd=project).returncode != 0
    # what the server's child cached, an in-process run finds
    alone = expandctl(
        "lint", "-v", "errors.sql", env={**env, "EXPANDCTL_LINT_SERVER": "0"}, cwd=project
    )
    assert alone.returncode == 1
    assert b"lint cache: " in alone.stderr and b"hit" in alone.stderr, alone.stderr
    assert b"miss" not in alone.stderr or b" 0 miss" in alone.stderr


def test_the_client_imports_neither_click_nor_the_parser(
    shared_server: Server, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    record = tmp_path / "modules.json"

    def modules(env: dict[str, str]) -> tuple[int, set[str]]:
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(record), "lint", "errors.sql"],
            env={**env, "EXPANDCTL_CACHE_DIR": str(tmp_path / "cache")},
            cwd=project,
            capture_output=True,
            timeout=120,
        )
        return done.returncode, set(json.loads(record.read_text(encoding="utf-8")))

    code, served = modules(shared_server.env)
    assert code == 1
    heavy = ("click", "sqlglot", "pglast", "pydantic", "expandctl.cli.app", "expandctl.lint")
    assert sorted(m for m in served if m.startswith(heavy)) == []
    # the control: the same check catches an in-process run (the cache is warm by now)
    code, alone = modules({**shared_server.env, "EXPANDCTL_LINT_SERVER": "0"})
    assert code == 1
    assert "click" in alone


def test_stop_and_status(socket_dir: Path) -> None:
    server = Server(socket_dir)
    not_running = server.cli("lint-server", "status")
    assert not_running.returncode == 0
    assert b"not running" in not_running.stdout
    pid = server.start("--idle-timeout", "2min")
    try:
        again = server.cli("lint-server", "start")
        assert again.returncode == 0
        assert f"already running (pid {pid}".encode() in again.stdout
        text = server.cli("lint-server", "status")
        assert f"running, pid {pid}".encode() in text.stdout
        assert b"requests served: 0" in text.stdout
        status = server.status()
        socket = Path(str(status["socket"]))
        assert socket.parent == socket_dir
        assert (socket.stat().st_mode & 0o777) == 0o600
        stopped = server.cli("lint-server", "stop")
        assert stopped.returncode == 0
        assert f"stopped (pid {pid})".encode() in stopped.stdout
        assert not _alive(pid)
        assert not socket.exists()
        assert server.status()["running"] is False
        assert b"not running" in server.cli("lint-server", "stop").stdout
    finally:
        server.stop()


def test_the_idle_timeout_ends_the_server(socket_dir: Path) -> None:
    server = Server(socket_dir)
    pid = server.start("--idle-timeout", "1s")
    try:
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)
        assert server.status()["running"] is False
    finally:
        server.stop()


def test_a_changed_module_makes_the_server_stale(server: Server, tmp_path: Path) -> None:
    project = _project(tmp_path)
    pid = int(server.status()["pid"])  # type: ignore[call-overload]
    module = PROJECT_ROOT / "expandctl" / "cli" / "lint_client.py"
    before = module.stat()
    try:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        done = expandctl("lint", "errors.sql", env=server.env, cwd=project)
    finally:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert module.stat().st_mtime_ns == before.st_mtime_ns
    assert done.returncode == 1  # linted in-process instead
    assert b"L101" in done.stdout
    first, _, rest = done.stderr.partition(b"\n")
    assert b"out of date" in first and b"lint_client.py changed" in first, done.stderr
    assert b"expandctl lint-server start" in first
    alone = expandctl(
        "lint", "errors.sql", env={**server.env, "EXPANDCTL_LINT_SERVER": "0"}, cwd=project
    )
    assert (done.stdout, rest) == (alone.stdout, alone.stderr)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)  # a stale server exits


def test_a_group_or_world_accessible_directory_is_refused(socket_dir: Path) -> None:
    os.chmod(socket_dir, 0o777)
    server = Server(socket_dir)
    done = server.cli("lint-server", "start")
    assert done.returncode == 2
    assert b"unsafe lint server directory" in done.stderr
    assert f"chmod 700 {socket_dir}".encode() in done.stderr
    assert list(socket_dir.iterdir()) == []


def test_the_client_does_not_trust_a_directory_opened_up_later(
    server: Server, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    before = server.requests()
    os.chmod(server.directory, 0o755)
    try:
        done = expandctl("lint", "-v", "errors.sql", env=server.env, cwd=project)
    finally:
        os.chmod(server.directory, 0o700)
    assert done.returncode == 1
    assert b"lint server not used" in done.stderr and b"mode 755" in done.stderr
    assert server.requests() == before


def test_another_interpreter_gets_its_own_server(server: Server, tmp_path: Path) -> None:
    """A second venv (its own sys.prefix) on the same expandctl finds no server."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True
    )
    other = tmp_path / "venv" / "bin" / "python"
    site = next(p for p in sys.path if p.endswith("site-packages"))
    env = {**server.env, "PYTHONPATH": f"{PROJECT_ROOT}{os.pathsep}{site}"}
    done = subprocess.run(
        [str(other), "-m", "expandctl", "lint-server", "status", "--format", "json"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    theirs = json.loads(done.stdout)
    assert theirs["running"] is False
    assert theirs["socket"] != server.status()["socket"]
    assert Path(theirs["socket"]).parent == server.directory


def test_the_key_depends_on_every_part_of_the_identity() -> None:
    base = {"executable": "/usr/bin/python3.11", "prefix": "/a", "package": "/p", "version": "1"}
    keys = {server_key(base)} | {server_key({**base, part: "x"}) for part in base}
    assert len(keys) == 1 + len(base)


def test_ctrl_c_stops_the_child_and_the_server_goes_on(server: Server, tmp_path: Path) -> None:
    project = _project(tmp_path)
    big = project / "big.sql"
    big.write_text(
        "".join(f"ALTER TABLE users ADD COLUMN c{i} text;\n" for i in range(20_000)),
        encoding="utf-8",
    )
    client = subprocess.Popen(
        [sys.executable, "-m", "expandctl", "lint", "--no-cache", "big.sql"],
        env=server.env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while server.status()["active"] != 1:
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 130, err
    assert b"interrupted" in err
    assert server.status()["active"] == 0
    done = expandctl("lint", "errors.sql", env=server.env, cwd=project)
    assert done.returncode == 1
    assert server.requests() == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_another_user_is_refused(server: Server) -> None:
    """SO_PEERCRED, not only the directory's mode: opened up, the socket still refuses."""
    socket = str(server.status()["socket"])
    os.chmod(server.directory, 0o711)
    os.chmod(socket, 0o666)
    read, write = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # a process of user nobody asks for the status
            try:
                os.setgid(65534)
                os.setuid(65534)
                try:
                    answer = call("status", socket)
                except Exception as exc:
                    answer = {"exception": repr(exc)}
                os.write(write, json.dumps(answer).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            answer = json.loads(pipe.read() or b"{}")
        os.waitpid(pid, 0)
    finally:
        os.chmod(server.directory, 0o700)
        os.chmod(socket, 0o600)
    assert answer == {"type": "refused", "reason": "another user"}
    assert server.status()["running"] is True
