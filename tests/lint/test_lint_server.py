"""``expandctl lint-server``: a real server process on a socket in a private temporary
directory; every lint through it must equal the in-process run byte for byte."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import resource
import shutil
import signal
import socket as sockets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from expandctl.cli.cmd_lint_server import _PROBE, _daemon_env, process_alive
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
    """One ``lint-server`` in ``directory``; ``env`` is the clients' environment.

    The server starts with another one (``server_env``: no colour, another cache,
    JSON logs, another time zone): whatever it kept of its own would show as a
    difference from the in-process run, which has the client's.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("EXPANDCTL_", "NO_COLOR"))
        }
        self.env["PYTHONPATH"] = str(PROJECT_ROOT)
        self.env["EXPANDCTL_LINT_SERVER_DIR"] = str(directory)
        self.env.pop("TZ", None)
        self.server_env = {
            **self.env,
            "NO_COLOR": "1",
            "EXPANDCTL_CACHE_DIR": str(directory / "server-cache"),
            "EXPANDCTL_LOG_FORMAT": "json",
            "TZ": "Pacific/Kiritimati",
        }

    def cli(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return expandctl(*args, env=self.env, **kwargs)  # type: ignore[arg-type]

    def start(self, *args: str) -> int:
        done = expandctl("lint-server", "start", *args, env=self.server_env)
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

    def pid(self) -> int:
        return int(self.status()["pid"])  # type: ignore[call-overload]

    def wait_active(self, client: subprocess.Popen[bytes]) -> int:
        """Until ``client``'s lint runs in a child of the server; that child's pid."""
        deadline = time.monotonic() + 30
        while self.status()["active"] != 1:
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        (child,) = _children(self.pid())
        return child

    def stop(self) -> None:
        pid = self.status().get("pid")
        self.cli("lint-server", "stop")
        if isinstance(pid, int) and process_alive(pid):  # never leave one behind
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


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as found:
        return [int(child) for child in found.read().split()]


def _group_alive(group: int) -> bool:
    """Whether a live (not zombie) process is in process group ``group``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            return True
    return False


def _wait_until(condition: object, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    return bool(condition())  # type: ignore[operator]


def _big(project: Path, statements: int = 150_000) -> str:
    """A file that takes the warm linter several seconds (0.07 ms a statement)."""
    (project / "big.sql").write_text(
        "".join(f"ALTER TABLE users ADD COLUMN c{i} text;\n" for i in range(statements)),
        encoding="utf-8",
    )
    return "big.sql"


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
    _compare(shared_server, tmp_path, _project(tmp_path), args, stdin)


def _compare(
    server: Server, tmp_path: Path, project: Path, args: tuple[str, ...], stdin: bytes | None
) -> None:
    caches = tmp_path / "cache-server", tmp_path / "cache-inprocess"
    before = server.requests()
    served = expandctl(
        *args, env={**server.env, "EXPANDCTL_CACHE_DIR": str(caches[0])}, cwd=project, input=stdin
    )
    assert server.requests() == before + 1  # it really went through the server
    alone = expandctl(
        *args,
        env={**server.env, "EXPANDCTL_CACHE_DIR": str(caches[1]), "EXPANDCTL_LINT_SERVER": "0"},
        cwd=project,
        input=stdin,
    )
    assert server.requests() == before + 1  # ... and this one did not
    assert (served.returncode, served.stdout, served.stderr) == (
        alone.returncode,
        alone.stdout,
        alone.stderr,
    )
    assert served.stdout or served.stderr


def test_many_files_take_the_worker_pool_path_identically(
    shared_server: Server, tmp_path: Path
) -> None:
    """64 files or more are linted by forked workers (in the server's child too)."""
    project = _project(tmp_path)
    names = []
    for i in range(70):
        names.append(f"f{i:02}.sql")
        (project / names[-1]).write_text(ERRORS_SQL if i % 7 == 0 else CLEAN_SQL, "utf-8")
    _compare(shared_server, tmp_path, project, ("lint", "--format", "json", *names), None)


def test_colour_on_a_terminal_is_the_clients(shared_server: Server, tmp_path: Path) -> None:
    """The server started with NO_COLOR; the client, on a terminal, has colours."""
    project = _project(tmp_path)

    def on_a_pty(env: dict[str, str]) -> tuple[int, bytes]:
        main, secondary = pty.openpty()
        try:
            client = subprocess.Popen(
                [sys.executable, "-m", "expandctl", "lint", "--no-cache", "errors.sql"],
                env=env,
                cwd=project,
                stdout=secondary,
                stderr=subprocess.DEVNULL,
            )
            os.close(secondary)
            output = b""
            while True:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # EIO: the client and the child have closed it
                    break
                if not chunk:
                    break
                output += chunk
            return client.wait(timeout=60), output
        finally:
            os.close(main)

    before = shared_server.requests()
    served = on_a_pty(shared_server.env)
    assert shared_server.requests() == before + 1
    alone = on_a_pty({**shared_server.env, "EXPANDCTL_LINT_SERVER": "0"})
    assert served == alone
    assert served[0] == 1 and b"\x1b[" in served[1]


def test_exit_codes_and_the_cache_are_the_in_process_ones(
    shared_server: Server, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    env = {**shared_server.env, "EXPANDCTL_CACHE_DIR": str(tmp_path / "cache")}
    before = shared_server.requests()
    assert expandctl("lint", "errors.sql", env=env, cwd=project).returncode == 1
    assert expandctl("lint", "clean.sql", env=env, cwd=project).returncode == 0
    assert expandctl("lint", "syntax.sql", env=env, cwd=project).returncode != 0
    assert shared_server.requests() == before + 3  # all three went through the server
    # what the server's child cached (in the client's cache, not the server's), an
    # in-process run finds
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
    # started with a relative directory (the daemon leaves the working directory)
    relative = {**server.server_env, "EXPANDCTL_LINT_SERVER_DIR": socket_dir.name}
    started = expandctl(
        "lint-server", "start", "--idle-timeout", "2min", env=relative, cwd=socket_dir.parent
    )
    assert started.returncode == 0, started.stderr
    pid = server.pid()  # found at the absolute path
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
        assert not process_alive(pid)
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
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_alive(pid)
        assert server.status()["running"] is False
    finally:
        server.stop()


def test_a_changed_module_makes_the_server_stale(server: Server, tmp_path: Path) -> None:
    """Any module of the package, also one the server never loaded: a child may
    import it from disk (this one lint never imports; a loaded one is checked alike)."""
    changed = "engine/fencing.py"
    project = _project(tmp_path)
    pid = server.pid()
    module = PROJECT_ROOT / "expandctl" / changed
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
    assert b"out of date" in first and f"{changed} changed".encode() in first, done.stderr
    assert b"expandctl lint-server start" in first
    alone = expandctl(
        "lint", "errors.sql", env={**server.env, "EXPANDCTL_LINT_SERVER": "0"}, cwd=project
    )
    assert (done.stdout, rest) == (alone.stdout, alone.stderr)
    deadline = time.monotonic() + 10
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(pid)  # a stale server exits


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
    client = subprocess.Popen(
        [sys.executable, "-m", "expandctl", "lint", "--no-cache", _big(project)],
        env=server.env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        server.wait_active(client)
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


def test_a_server_killed_mid_run_takes_its_child_along(server: Server, tmp_path: Path) -> None:
    """The client exits non-zero only once the child is gone: nothing writes on its
    stdout afterwards, and no orphan goes on linting. (The child lints stdin, which
    the test holds open: it runs until then, whatever the machine's speed.)"""
    project = _project(tmp_path)
    output = tmp_path / "stdout"
    with output.open("wb") as stdout:
        client = subprocess.Popen(
            [sys.executable, "-m", "expandctl", "lint", "--no-cache", "-"],
            env=server.env,
            cwd=project,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
    assert client.stdin is not None and client.stderr is not None
    try:
        client.stdin.write(ERRORS_SQL.encode())
        client.stdin.flush()
        child = server.wait_active(client)
        os.kill(server.pid(), signal.SIGKILL)
        client.wait(timeout=30)
        orphan = _group_alive(child)
        client.stdin.close()  # an orphan would now lint and write
        time.sleep(0.5)
        err = client.stderr.read()
    finally:
        if client.poll() is None:
            client.kill()
        client.wait()
    assert client.returncode == 70, err
    assert b"the lint server stopped before the lint finished" in err
    assert b"linting in-process" not in err
    assert not orphan
    assert output.read_bytes() == b""


def test_a_client_killed_mid_run_takes_its_child_along(
    shared_server: Server, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    client = subprocess.Popen(
        [sys.executable, "-m", "expandctl", "lint", "--no-cache", _big(project)],
        env=shared_server.env,
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        child = shared_server.wait_active(client)
    finally:
        client.kill()
        client.wait()
    assert _wait_until(lambda: not _group_alive(child))
    assert shared_server.status()["active"] == 0


def test_signals_ignored_by_the_client_stay_ignored(shared_server: Server, tmp_path: Path) -> None:
    """Under nohup a hang-up changes nothing: the client does not forward it, and the
    child ignores it too, as an in-process run would."""
    project = _project(tmp_path)
    before = shared_server.requests()
    client = subprocess.Popen(
        [sys.executable, "-m", "expandctl", "lint", "--no-cache", "-"],
        env=shared_server.env,
        cwd=project,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    try:
        child = shared_server.wait_active(client)  # reading stdin, which stays open
        client.send_signal(signal.SIGHUP)
        os.kill(child, signal.SIGHUP)
        time.sleep(0.2)
        out, err = client.communicate(CLEAN_SQL.encode(), timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err
    assert b"1 file, 2 statements" in out and b"lint passed" in out
    assert shared_server.requests() == before + 1  # not in-process after all


def test_a_failure_after_fork_never_lints_twice(shared_server: Server, tmp_path: Path) -> None:
    """The server runs out of descriptors just after forking (its pidfd_open fails):
    the child is killed and reaped, and the client exits 70 instead of linting again."""
    server = shared_server
    project = _project(tmp_path)
    pid = server.pid()
    limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    open_fds = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
    # room for exactly the accepted connection and the 4 descriptors it brings
    limit = next(n for n in range(3, 1024) if n - sum(fd < n for fd in open_fds) == 5)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limits[1]))
    try:
        done = expandctl("lint", "--no-cache", "errors.sql", env=server.env, cwd=project)
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
    assert done.returncode == 70, (done.stdout, done.stderr)
    assert b"the lint server failed to start the lint" in done.stderr
    assert b"EXPANDCTL_LINT_SERVER=0" in done.stderr
    assert done.stdout.count(b"L101") <= 1
    assert _children(pid) == []  # killed and reaped at once
    assert server.status()["active"] == 0
    again = expandctl("lint", "--no-cache", "errors.sql", env=server.env, cwd=project)
    assert again.returncode == 1 and again.stdout.count(b"L101") == 1


def test_stop_removes_a_stale_socket_only_under_the_start_lock(socket_dir: Path) -> None:
    """A ``start`` in progress holds the lock and may bind a new socket at any moment:
    ``stop`` waits for it before it removes a socket nobody answers on."""
    server = Server(socket_dir)
    path = str(server.status()["socket"])
    stale = sockets.socket(sockets.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays; connecting is refused
    lock = os.open(path.removesuffix(".sock") + ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stop = subprocess.Popen(
            [sys.executable, "-m", "expandctl", "lint-server", "stop"],
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

        def waiting() -> bool:
            with open("/proc/locks", encoding="utf-8") as locks:
                return any("->" in line and f" {stop.pid} " in line for line in locks) or (
                    stop.poll() is not None
                )

        assert _wait_until(waiting, 60)
        assert stop.poll() is None, stop.communicate()  # it waits for the lock ...
        assert os.path.exists(path)  # ... and has removed nothing yet
    finally:
        os.close(lock)
    out, err = stop.communicate(timeout=60)
    assert stop.returncode == 0, err
    assert b"removed its stale socket" in out
    assert not os.path.exists(path)


def test_the_daemon_path_is_left_alone_when_it_finds_this_expandctl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No site-packages (nor anything) prepended: backports there could shadow the
    standard library in the daemon."""
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    assert _daemon_env()["PYTHONPATH"] == str(PROJECT_ROOT)
    monkeypatch.delenv("PYTHONPATH")
    env = _daemon_env()  # whatever it needs now, a fresh interpreter finds this expandctl
    found = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd="/", capture_output=True, text=True
    )
    assert found.stdout.strip() == str(PROJECT_ROOT / "expandctl")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to listen as another user")
def test_the_client_does_not_use_a_socket_served_by_another_user(
    socket_dir: Path, tmp_path: Path
) -> None:
    """A process of user nobody listens at the server's path (the directory checks
    passed): the client sends it nothing and lints in-process."""
    project = _project(tmp_path)
    server = Server(socket_dir)
    path = str(server.status()["socket"])
    listener = sockets.socket(sockets.AF_UNIX)
    listener.bind(path)
    pid = os.fork()
    if pid == 0:  # an impostor: it would claim the lint exited 42
        try:
            os.setgid(65534)
            os.setuid(65534)
            listener.listen(1)  # SO_PEERCRED reports who called listen()
            listener.settimeout(60)
            conn, _ = listener.accept()
            conn.settimeout(10)
            frames = [b'{"type": "accepted"}', b'{"type": "started", "pid": 1}']
            frames.append(b'{"type": "exit", "code": 42}')
            conn.recv(1 << 20)
            for frame in frames:
                conn.sendall(len(frame).to_bytes(4, "big") + frame)
                time.sleep(0.2)
        finally:
            os._exit(0)
    listener.close()
    try:
        done = expandctl("lint", "errors.sql", env=server.env, cwd=project)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert done.returncode == 1, done.stderr
    assert b"L101" in done.stdout
    assert b"served by uid 65534, not by you; linting in-process" in done.stderr


def test_the_warm_up_loads_what_a_request_may_need_sqlglot_included(tmp_path: Path) -> None:
    """sqlglot is imported on first use by the linter; the server imports it up front
    so that a request with DML does not pay for it."""
    script = (
        "import json, sys\n"
        "before = 'sqlglot' in sys.modules\n"
        "from expandctl.cli.lint_server import warm_up\n"
        "warm_up()\n"
        "print(json.dumps([before, sorted(m for m in sys.modules if m.startswith('expandctl.lint'))"
        ", 'sqlglot' in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, modules, after = json.loads(done.stdout.splitlines()[-1])
    assert before is False
    assert after is True
    for name in ("expandctl.lint.tree_actions", "expandctl.lint.do_block", "expandctl.lint.dml"):
        assert name in modules
