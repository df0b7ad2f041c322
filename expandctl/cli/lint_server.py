"""The resident lint server: the lint path imported once, one forked child per run.

``expandctl lint-server start`` runs :func:`run_daemon` in a fresh interpreter
(``python -c``), so the server holds no click context of its own: it imports
and warms up everything ``expandctl lint`` needs (a few lints of stdin, their
output discarded), binds its Unix socket, detaches (double fork, setsid) and
serves. Each request is checked (same uid by SO_PEERCRED, same interpreter and
expandctl, code unchanged since start), then a child is forked: it takes the
client's descriptors as 0/1/2, its working directory, environment and umask,
and runs the ordinary click ``lint`` command, so output, colours and exit
code are those of an in-process run. The server only ever runs ``lint``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import json
import logging
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

from expandctl.cli.lint_client import PROTOCOL, Channel, check_dir, identity, server_paths

# Packages whose installed version changes what lint says: upgraded → stale.
_LIBRARIES = ("sqlglot", "pglast", "click", "pydantic", "pydantic_core")
_FORMATS = ("text", "json", "github", "sarif", "gitlab")
_WARM_SQL = (
    "CREATE TABLE warm (id bigint PRIMARY KEY, email text);\n"
    "ALTER TABLE users ADD COLUMN nickname text NOT NULL DEFAULT '';\n"
    "CREATE INDEX users_email_idx ON users (email);\n"
    # DML with OR and a DO block: what loads sqlglot (lint.glot), imported on first use
    "UPDATE warm SET email = lower(email) WHERE id = 1 OR id = 2;\n"
    "DO $$ BEGIN NULL; END $$;\n"
)
_WARM_MIGRATION = {
    "migration.toml": 'description = "Warm up the linter"\n',
    "expand.sql": "ALTER TABLE users ADD COLUMN nickname text;\n",
    "expand.down.sql": "ALTER TABLE users DROP COLUMN nickname;\n",
}
# What a lint of many files adds (commands.lint._lint_plain_files forks workers).
_MANY_FILES_MODULES = ("expandctl.commands.forked",)
_PEERCRED = struct.Struct("3i")
# What a child takes over from the client; blocked across fork so that none is lost
# (or handled by the server's handler) before the child has its own handlers.
_CHILD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_REQUEST_TIMEOUT_S = 2.0  # a client that connects and says nothing cannot stall the others
_STOP_GRACE_S = 30.0  # how long running lints may finish when the server stops


def warm_up() -> None:
    """Import and exercise the lint path: every output format, stdin and a
    migration folder, with the cache off and the output thrown away. Logging
    and warning filters are put back, so the children configure their own."""
    from expandctl.cli.app import cli

    handlers = {name: list(logging.getLogger(name).handlers) for name in ("", "expandctl")}
    streams = sys.stdin, sys.stdout, sys.stderr
    cwd = os.getcwd()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="expandctl-warm-") as tmp,
            warnings.catch_warnings(),
        ):
            folder = os.path.join(tmp, "migrations", "0001_warm_up")
            os.makedirs(folder)
            for name, text in _WARM_MIGRATION.items():
                with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
                    out.write(text)
            os.chdir(tmp)
            runs = [["lint", "--no-cache", "--format", f, "-"] for f in _FORMATS]
            runs.append(["lint", "--no-cache", "migrations"])
            for args in runs:
                sys.stdin = io.StringIO(_WARM_SQL)
                sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
                with contextlib.suppress(Exception, SystemExit):
                    cli.main(args=args, prog_name="expandctl", standalone_mode=False)
    finally:
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = streams
        for name, kept in handlers.items():
            logging.getLogger(name).handlers[:] = kept
    # Imported once here rather than by every child that lints a directory.
    for name in _MANY_FILES_MODULES:
        importlib.import_module(name)


def code_snapshot(package: str) -> dict[str, tuple[int, int] | None]:
    """Stats of every expandctl module (loaded or not: a child may import one the
    warm-up never did), of its folders (a file added) and of the libraries'
    install records."""
    paths: set[str] = set()
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        paths.add(folder)
        paths.update(os.path.join(folder, name) for name in files if name.endswith(".py"))
    for name in _LIBRARIES:
        path = getattr(sys.modules.get(name), "__file__", None)
        if not path:
            continue
        paths.add(path)
        site = os.path.dirname(os.path.dirname(path))
        with contextlib.suppress(OSError):
            for entry in os.listdir(site):
                if entry.startswith(f"{name}-") and entry.endswith(".dist-info"):
                    paths.add(os.path.join(site, entry, "RECORD"))
    return {path: _stat(path) for path in sorted(paths)}


def _stat(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def first_change(snapshot: dict[str, tuple[int, int] | None]) -> str | None:
    """The first file that differs from the snapshot (one stat each: cheap per request)."""
    for path, seen in snapshot.items():
        if _stat(path) != seen:
            return path
    return None


@dataclass
class Job:
    pid: int
    pidfd: int
    conn: socket.socket
    channel: Channel


@dataclass
class LintServer:
    listener: socket.socket
    socket_path: str
    log_path: str
    idle_timeout: float  # seconds; 0: never
    identity: dict[str, str]
    snapshot: dict[str, tuple[int, int] | None]
    socket_inode: int
    started: float = field(default_factory=time.time)
    requests: int = 0
    child_peak_kb: int = 0  # the largest peak RSS of a child (shared pages included)
    stopping: str | None = None  # why the server stops, once it does
    jobs: dict[int, Job] = field(default_factory=dict)  # by pidfd
    _last_activity: float = field(default_factory=time.monotonic)

    def serve(self) -> None:
        """Accept and dispatch until stopped, idle or stale; then let running lints end."""
        selector = selectors.DefaultSelector()
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        signal.set_wakeup_fd(wake_write.fileno())
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, self._on_signal)
        self._selector, self._wake = selector, (wake_read, wake_write)
        selector.register(self.listener, selectors.EVENT_READ, "accept")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        try:
            while not self.stopping:
                for key, _ in selector.select(self._timeout()):
                    self._dispatch(key.data, key.fileobj)
                if self._idle_for() >= self.idle_timeout > 0 and not self.jobs:
                    self.stopping = "idle timeout"
            self._close_listener()
            deadline = time.monotonic() + _STOP_GRACE_S
            while self.jobs and time.monotonic() < deadline:
                for key, _ in selector.select(max(0.0, deadline - time.monotonic())):
                    if key.data != "accept":
                        self._dispatch(key.data, key.fileobj)
            for job in list(self.jobs.values()):
                self._kill(job)
                self._finish(job)
        finally:
            self._close_listener()
            log(f"stopped: {self.stopping}")

    def _on_signal(self, number: int, _frame: object) -> None:
        self.stopping = self.stopping or f"signal {signal.Signals(number).name}"

    def _timeout(self) -> float | None:
        if self.idle_timeout <= 0 or self.jobs:
            return None
        return max(0.0, self.idle_timeout - self._idle_for())

    def _idle_for(self) -> float:
        return time.monotonic() - self._last_activity

    def _close_listener(self) -> None:
        if self.listener.fileno() < 0:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self.listener)
        # Only our own socket file: a newer server may have replaced it already.
        with contextlib.suppress(OSError):
            if os.stat(self.socket_path).st_ino == self.socket_inode:
                os.unlink(self.socket_path)
        self.listener.close()

    def _dispatch(self, kind: str, fileobj: Any) -> None:
        if kind == "accept":
            with contextlib.suppress(BlockingIOError):
                conn, _ = self.listener.accept()
                self._last_activity = time.monotonic()
                try:
                    self._handle(conn)
                except Exception as exc:  # one bad request never ends the server
                    log(f"request failed: {type(exc).__name__}: {exc}")
                    conn.close()
        elif kind == "wake":
            with contextlib.suppress(OSError):
                fileobj.recv(4096)
        elif kind == "child":
            job = self.jobs.get(fileobj)
            if job is not None:
                self._finish(job)
        elif kind == "client":
            job = next((j for j in self.jobs.values() if j.conn is fileobj), None)
            if job is not None and _client_gone(job.conn):
                self._kill(job)  # nobody waits for this lint any more
                self._selector.unregister(job.conn)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(_REQUEST_TIMEOUT_S)
        pid, uid, _ = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        channel = Channel(conn)
        request, fds = channel.receive(max_fds=4)  # read first: the answer then arrives
        try:
            if uid != os.getuid():
                log(f"refused pid {pid}: uid {uid}")
                channel.send({"type": "refused", "reason": "another user"})
            elif request.get("op") == "lint" and len(fds) == 4:
                self._lint(conn, channel, request, fds)
                return
            else:
                channel.send(self._answer(request))
        finally:
            for fd in fds:
                os.close(fd)
        conn.close()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            return self.status()
        if op == "stop":
            self.stopping = "stopped by 'expandctl lint-server stop'"
            return {"type": "stopping", "pid": os.getpid()}
        return {"type": "refused", "reason": f"unknown request {op!r}"}

    def status(self) -> dict[str, Any]:
        return {
            "type": "status",
            "pid": os.getpid(),
            "socket": self.socket_path,
            "log": self.log_path,
            "started_at": self.started,
            "uptime_s": round(time.time() - self.started, 1),
            "requests": self.requests,
            "active": len(self.jobs),  # lints in progress
            "child_peak_kb": self.child_peak_kb,
            "idle_timeout_s": self.idle_timeout,
            **self.identity,
        }

    def _lint(
        self, conn: socket.socket, channel: Channel, request: dict[str, Any], fds: list[int]
    ) -> None:
        refusal = self._refusal(request)
        if refusal is not None:
            channel.send(refusal)
            conn.close()
            return
        channel.send({"type": "accepted"})
        go, _ = channel.receive()
        if go.get("type") != "go":
            conn.close()
            return
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _CHILD_SIGNALS)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            raise
        if pid == 0:  # the child: never returns into the server's loop
            code = 70
            try:
                os.setpgid(0, 0)
                self._close_server_fds()
                conn.close()
                code = run_child(request, fds, mask)
            except BaseException:
                with contextlib.suppress(BaseException):
                    traceback.print_exc()
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        pidfd: int | None = None
        try:  # a child nobody tracks would lint unseen and never be reaped
            with contextlib.suppress(OSError):
                os.setpgid(pid, pid)  # also here: the client may signal the group at once
            pidfd = os.pidfd_open(pid)
            self.jobs[pidfd] = Job(pid, pidfd, conn, channel)
            self._selector.register(pidfd, selectors.EVENT_READ, "child")
            channel.send({"type": "started", "pid": pid})
            self._selector.register(conn, selectors.EVENT_READ, "client")
        except BaseException:
            self._abandon(pid, pidfd)
            raise

    def _abandon(self, pid: int, pidfd: int | None) -> None:
        """Kill and reap a child whose start failed half-way (the client exits 70)."""
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(OSError):
                kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if pidfd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(pidfd)
            self.jobs.pop(pidfd, None)
            os.close(pidfd)

    def _refusal(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if request.get("protocol") != PROTOCOL or request.get("identity") != self.identity:
            return {"type": "refused", "reason": "another expandctl or interpreter"}
        if self.stopping:
            return {"type": "refused", "reason": "stopping"}
        changed = first_change(self.snapshot)
        if changed is not None:
            self.stopping = f"stale: {changed} changed"
            return {"type": "stale", "reason": f"{changed} changed since it started"}
        return None

    def _finish(self, job: Job) -> None:
        _, status, usage = os.wait4(job.pid, 0)
        self.child_peak_kb = max(self.child_peak_kb, usage.ru_maxrss)
        if os.WIFSIGNALED(status):
            result = {"type": "exit", "signal": os.WTERMSIG(status)}
        else:
            result = {"type": "exit", "code": os.waitstatus_to_exitcode(status)}
        with contextlib.suppress(OSError):
            job.channel.send(result)
        for fileobj in (job.pidfd, job.conn):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fileobj)
        os.close(job.pidfd)
        job.conn.close()
        del self.jobs[job.pidfd]
        self.requests += 1
        self._last_activity = time.monotonic()

    def _kill(self, job: Job) -> None:
        for number in (signal.SIGTERM, signal.SIGCONT):  # a stopped group gets TERM on CONT
            with contextlib.suppress(OSError):
                os.killpg(job.pid, number)

    def _close_server_fds(self) -> None:
        """In a child: nothing of the server's stays open (the socket, other clients)."""
        signal.set_wakeup_fd(-1)
        self._selector.close()
        self.listener.close()
        for sock in self._wake:
            sock.close()
        for job in self.jobs.values():
            os.close(job.pidfd)
            job.conn.close()


def _client_gone(conn: socket.socket) -> bool:
    """Whether the client hung up (it sends nothing after "go"; anything is dropped)."""
    try:
        return not conn.recv(4096, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True


def run_child(request: dict[str, Any], fds: list[int], mask: set[int | signal.Signals]) -> int:
    """Become the client's ``expandctl lint`` process and run it; its exit code.

    The signals of ``_CHILD_SIGNALS`` arrive blocked: they get the client's
    dispositions first, then ``mask`` (the server's own) is put back.
    """
    ignored = set(request.get("ignored_signals") or ())
    for number in _CHILD_SIGNALS:
        if number in ignored:
            signal.signal(number, signal.SIG_IGN)
        elif number == signal.SIGINT:
            signal.signal(number, signal.default_int_handler)
        else:
            signal.signal(number, signal.SIG_DFL)
    stdin, stdout, stderr, cwd = fds
    for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
        os.dup2(fd, target)
    os.fchdir(cwd)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["environ"])
    time.tzset()  # the client's TZ for timestamps
    sys.argv = list(request["argv"])
    sys.stdin, sys.stdout, sys.stderr = (
        _stream(fd, "r" if fd == 0 else "w", settings)
        for fd, settings in enumerate(request["streams"])
    )
    for name in ("stdin", "stdout", "stderr"):
        setattr(sys, f"__{name}__", getattr(sys, name))
    from expandctl.cli.app import main

    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C lands here
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # as the interpreter: a failed final flush is exit 120
            code = code or 120
    return code


def _stream(fd: int, mode: str, settings: dict[str, Any]) -> io.TextIOWrapper:
    """A text stream on ``fd`` set up as the client's interpreter set up its own."""
    raw = io.FileIO(fd, mode, closefd=False)
    binary = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        binary,
        encoding=settings["encoding"],
        errors=settings["errors"],
        newline="\n",
        line_buffering=bool(settings["line_buffering"]),
        write_through=bool(settings["write_through"]),
    )


def _exit_code(code: object) -> int:
    """What the interpreter makes of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def log(message: str) -> None:
    """One line in the server's log file (its stderr once detached)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} [{os.getpid()}] {message}", file=sys.stderr, flush=True)


def bind(path: str) -> socket.socket:
    """Listen on ``path``, readable and writable by this user only."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # the caller made sure no server answers there
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(64)
    listener.setblocking(False)
    return listener


def run_daemon(directory: str, idle_timeout: float, foreground: bool) -> None:
    """The server process: warm up, bind, report on stdout (one JSON line), serve.

    Started by ``lint-server start`` with stdout a pipe it reads until EOF.
    """
    if sys.path and sys.path[0] == "":  # python -c: the working directory, which we leave
        del sys.path[0]
    try:
        check_dir(directory, create=True)
        ident = identity()
        paths = server_paths(directory, ident)
        warm_up()
        snapshot = code_snapshot(ident["package"])
        listener = bind(paths["socket"])
    except Exception as exc:
        _report({"error": f"{type(exc).__name__}: {exc}"})
        raise SystemExit(2) from None
    gc.collect()
    gc.freeze()  # the children share these pages: keep the collector off them
    if not foreground:
        _detach(paths["log"])
    server = LintServer(
        listener,
        paths["socket"],
        paths["log"],
        idle_timeout,
        ident,
        snapshot,
        socket_inode=os.stat(paths["socket"]).st_ino,
    )
    log(f"serving {paths['socket']} (expandctl {ident['version']}, {sys.executable})")
    if not foreground:
        _report({"pid": os.getpid(), "socket": paths["socket"], "log": paths["log"]})
    if not foreground:
        _to_log(sys.stdout.fileno(), paths["log"])  # the reader sees EOF: started
    server.serve()
    if not foreground:
        os._exit(0)  # no atexit of the interpreter that started us


def _report(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _detach(log_path: str) -> None:
    """Double fork and a new session: no terminal, no parent to wait for us."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    with open(log_path, "w", encoding="utf-8"):
        pass  # each server starts a fresh log
    _to_log(2, log_path)


def _to_log(fd: int, log_path: str) -> None:
    out = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(out, fd)
    os.close(out)
