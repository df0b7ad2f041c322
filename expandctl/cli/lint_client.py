"""The fast path of ``expandctl lint``: hand the run to a resident lint server.

Standard library only, and only modules that load in a millisecond (no click,
pydantic, sqlglot, nor the rest of the CLI): a pre-commit hook or an editor
then pays Python's start-up and this module, and the server's forked child
lints on this process's own stdin, stdout and stderr (passed as file
descriptors), in its working directory and environment. Anything that fails
before the client says "go" returns None: the caller lints in-process. After
"go" the server may have forked a child, so the client never lints itself:
it exits 70 with a message and makes sure that child is gone first.

Only ``os`` and ``sys`` (loaded by every interpreter) are imported at the top:
``socket``, ``json`` and the rest only once a server's socket file exists, so
the path without a server stays as cheap as it was without this module.

The wire format, shared with ``lint_server``: frames of a 4-byte big-endian
length and a JSON object; the first frame of a lint request carries the
descriptors (stdin, stdout, stderr, cwd) as SCM_RIGHTS.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

DIR_ENV = "EXPANDCTL_LINT_SERVER_DIR"
SWITCH_ENV = "EXPANDCTL_LINT_SERVER"  # "0": never use the server; "auto": start one
# "auto": a run that finds no server starts one in the background, at most once per
# this many seconds per server (concurrent hook runs would otherwise each start one).
AUTO_START_EVERY_S = 10.0
PROTOCOL = 1
# Until the server has accepted a request nothing ran: past this, lint in-process.
HANDSHAKE_TIMEOUT_S = 5.0
MAX_FRAME = 64 * 1024 * 1024
_HEADER_SIZE = 4  # "!I"
_KILL_GRACE_S = 5.0  # the orphaned child's group gets SIGTERM, then SIGKILL after this
SOFTWARE_ERROR = 70  # EX_SOFTWARE: the server failed after it may have started the lint


class Unavailable(Exception):
    """No server can take this run; ``loud`` notes are shown even without -v."""

    def __init__(self, message: str, *, loud: bool = False) -> None:
        super().__init__(message)
        self.loud = loud


class InsecureDir(Exception):
    """The socket directory could be used by another user: never trust it."""


def socket_dir() -> str:
    """``$EXPANDCTL_LINT_SERVER_DIR``, ``$XDG_RUNTIME_DIR/expandctl``, or ``/tmp/expandctl-UID``."""
    configured = os.environ.get(DIR_ENV)
    if configured:
        return os.path.abspath(configured)  # the server leaves the working directory
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "expandctl")
    return f"/tmp/expandctl-{os.getuid()}"


def check_dir(path: str, *, create: bool = False) -> None:
    """Refuse a socket directory another user owns or could write into (or read)."""
    import stat

    if create:
        try:  # noqa: SIM105 - contextlib costs this fast path an import
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    info = os.lstat(path)
    hint = f"set {DIR_ENV} to a private directory"
    if not stat.S_ISDIR(info.st_mode):
        raise InsecureDir(f"{path} is not a directory ({hint})")
    if info.st_uid != os.getuid():
        raise InsecureDir(f"{path} is owned by uid {info.st_uid}, not by you ({hint})")
    if info.st_mode & 0o077:
        mode = oct(info.st_mode & 0o777)[2:]
        raise InsecureDir(
            f"{path} is group/other accessible (mode {mode}): run 'chmod 700 {path}', or {hint}"
        )


def identity() -> dict[str, str]:
    """What makes two servers different: the interpreter, the environment and expandctl."""
    import expandctl

    return {
        "executable": os.path.realpath(sys.executable),
        "prefix": sys.prefix,
        "package": os.path.dirname(os.path.abspath(expandctl.__file__ or "")),
        "version": expandctl.__version__,
    }


def server_key(ident: dict[str, str]) -> str:
    """A short FNV-1a hash of the identity (no hashlib, no json: they cost more to
    import than this takes). Collisions are harmless: the server compares the whole
    identity."""
    text = "\0".join(f"{key}\0{ident[key]}" for key in sorted(ident))
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"[:12]


def server_paths(directory: str, ident: dict[str, str]) -> dict[str, str]:
    base = os.path.join(directory, f"lint-{server_key(ident)}")
    return {"socket": base + ".sock", "log": base + ".log", "lock": base + ".lock"}


class Channel:
    """Length-prefixed JSON frames over a stream socket (messages may coalesce)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def send(self, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
        import json
        import socket

        data = json.dumps(message).encode("utf-8")
        frame = len(data).to_bytes(_HEADER_SIZE, "big") + data
        if fds:
            sent = socket.send_fds(self.sock, [frame], list(fds))
            frame = frame[sent:]
        if frame:
            self.sock.sendall(frame)

    def receive(self, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
        """The next frame, and the descriptors that came with its first bytes."""
        fds: list[int] = []
        try:
            return self._receive(max_fds, fds)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def _receive(self, max_fds: int, fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        import json
        import socket

        while True:
            if len(self._buffer) >= _HEADER_SIZE:
                size = int.from_bytes(self._buffer[:_HEADER_SIZE], "big")
                if size > MAX_FRAME:
                    raise ValueError(f"frame of {size} bytes")
                end = _HEADER_SIZE + size
                if len(self._buffer) >= end:
                    data, self._buffer = self._buffer[_HEADER_SIZE:end], self._buffer[end:]
                    message = json.loads(data)
                    if not isinstance(message, dict):
                        raise ValueError("a frame is not a JSON object")
                    return message, fds
            if max_fds and not fds:
                chunk, received, flags, _ = socket.recv_fds(self.sock, 65536, max_fds)
                fds.extend(received)
                if flags & socket.MSG_CTRUNC:
                    raise ValueError("descriptors truncated")
            else:
                chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self._buffer += chunk


def connect(path: str) -> socket.socket:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def lint_through_server(argv: list[str]) -> int | None:
    """Run ``expandctl lint …`` in the server; its exit code, or None to lint in-process."""
    if os.environ.get(SWITCH_ENV, "") == "0":
        return None
    verbose = any(a in ("-v", "--verbose") or a.startswith("-vv") for a in argv[2:])
    try:
        return _run(argv)
    except Unavailable as exc:
        if verbose or exc.loud:
            sys.stderr.write(f"expandctl: {exc}; linting in-process\n")
            sys.stderr.flush()
        return None


def _run(argv: list[str]) -> int | None:
    directory = socket_dir()
    ident = identity()
    path = server_paths(directory, ident)["socket"]
    if not os.path.exists(path):  # the common case without a server: nothing imported
        if os.environ.get(SWITCH_ENV, "") == "auto":
            _start_in_background(directory, ident)
        raise Unavailable(f"no lint server at {path}")
    try:
        check_dir(directory)
    except (OSError, InsecureDir) as exc:
        raise Unavailable(f"lint server not used: {exc}") from None
    streams = []
    for fd, stream in ((0, sys.stdin), (1, sys.stdout), (2, sys.stderr)):
        try:
            os.fstat(fd)
        except OSError:
            raise Unavailable(f"descriptor {fd} is closed") from None
        if stream is None:
            raise Unavailable(f"descriptor {fd} has no Python stream")
        streams.append(
            {
                "encoding": stream.encoding,
                "errors": stream.errors,
                "line_buffering": getattr(stream, "line_buffering", False),
                "write_through": getattr(stream, "write_through", False),
            }
        )
    umask = os.umask(0o022)
    os.umask(umask)
    forwarder = _Forwarder()
    request = {
        "op": "lint",
        "protocol": PROTOCOL,
        "identity": ident,
        "argv": argv,
        "environ": dict(os.environ),
        "umask": umask,
        "streams": streams,
        "ignored_signals": forwarder.ignored,  # nohup: the child ignores them too
    }
    try:
        return _exchange(path, request, forwarder)
    except Unavailable:
        if forwarder.pending:  # interrupted before anything ran: do not lint at all
            return 128 + forwarder.pending
        raise
    finally:
        forwarder.restore()


def _start_in_background(directory: str, ident: dict[str, str]) -> None:
    """``expandctl lint-server start``, detached: this run lints in-process meanwhile.

    The start command takes the server's own lock and does nothing when a server
    already runs, so a race between runs costs a process, not a second server.
    """
    import time

    try:
        check_dir(directory, create=True)
        marker = server_paths(directory, ident)["lock"] + ".auto"
        try:
            if os.stat(marker).st_mtime > time.time() - AUTO_START_EVERY_S:
                return  # another run started one a moment ago
        except FileNotFoundError:
            pass
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
        os.utime(marker)  # its time says when the last start was
        quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "expandctl", "lint-server", "start"],
            os.environ,
            file_actions=quiet,
            setsid=True,  # not in this terminal's process group: Ctrl-C here spares it
        )
    except (OSError, InsecureDir) as exc:
        raise Unavailable(f"could not start a lint server: {exc}", loud=True) from None


def _exchange(path: str, request: dict[str, Any], forwarder: _Forwarder) -> int:
    try:
        sock = connect(path)
    except OSError as exc:
        raise Unavailable(f"lint server at {path} not reachable ({exc})") from None
    try:
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        sock.close()
        raise Unavailable(f"the working directory cannot be passed on ({exc})") from None
    try:
        _check_owner(sock, path)
        channel = Channel(sock)
        try:
            channel.send(request, (0, 1, 2, cwd))
            answer, _ = channel.receive()
        except (OSError, EOFError, ValueError) as exc:
            raise Unavailable(f"lint server protocol error ({exc})") from None
        if answer.get("type") == "stale":
            raise Unavailable(
                f"the lint server was out of date ({answer.get('reason')}) and has stopped;"
                " run 'expandctl lint-server start' for a fresh one",
                loud=True,
            )
        if answer.get("type") != "accepted":
            raise Unavailable(f"lint server refused: {answer.get('reason', answer)}")
        if forwarder.pending:  # interrupted before anything ran
            return 128 + forwarder.pending
        # From here on the server may fork the lint: never lint in-process as well.
        try:
            channel.send({"type": "go"})
            sock.settimeout(None)  # the lint takes as long as it takes
            started, _ = channel.receive()
            if started.get("type") != "started":
                raise ValueError(f"answer {started!r}")
            pid = int(started["pid"])
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
            return _failed(f"the lint server failed to start the lint ({exc})")
        child = _Child(pid)
        try:
            forwarder.attach(pid)
            return _wait_for_exit(channel, forwarder, child)
        finally:
            child.close()
    finally:
        os.close(cwd)
        sock.close()


def _check_owner(sock: socket.socket, path: str) -> None:
    """The process listening on ``path`` runs as this user (SO_PEERCRED): our stdin,
    stdout, environment and working directory go to no one else."""
    import socket
    import struct

    creds = struct.Struct("3i")  # pid, uid, gid
    try:
        _, uid, _ = creds.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, creds.size))
    except OSError as exc:
        raise Unavailable(f"lint server at {path}: no peer credentials ({exc})") from None
    if uid != os.getuid():
        raise Unavailable(
            f"lint server not used: {path} is served by uid {uid}, not by you", loud=True
        )


def _failed(message: str) -> int:
    sys.stderr.write(
        f"error: {message}; the lint did not finish: run it again"
        f" (or with {SWITCH_ENV}=0 to lint without the server)\n"
    )
    sys.stderr.flush()
    return SOFTWARE_ERROR


def _wait_for_exit(channel: Channel, forwarder: _Forwarder, child: _Child) -> int:
    """The child's exit status: a code, or the signal that killed it, re-raised on us."""
    try:
        done, _ = channel.receive()
        number = done.get("signal")
        code = int(done.get("code", SOFTWARE_ERROR))
    except (OSError, EOFError, ValueError, TypeError) as exc:
        # The server is gone: its child must not outlive us and write on our stdout.
        child.end()
        if forwarder.pending:
            return 128 + forwarder.pending
        return _failed(f"the lint server stopped before the lint finished ({exc})")
    if number:
        import signal

        forwarder.restore()
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        return 128 + int(number)
    return code


class _Child:
    """The server's child that runs our lint, watched through a pidfd of our own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pidfd: int | None = None
        self.unwatched = False  # alive, maybe, but no pidfd to wait on
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # already exited, and reaped by the server
            return
        except OSError:  # out of descriptors: we can still signal its group
            self.unwatched = True
            return
        try:
            same = os.getpgid(pid) == pid  # still our child, not a reused pid
        except OSError:
            same = False
        if same:
            self.pidfd = pidfd
        else:
            os.close(pidfd)

    def end(self) -> None:
        """Stop the child's process group and wait until the child is gone."""
        import select
        import signal

        if self.pidfd is None:
            if self.unwatched:
                try:  # noqa: SIM105 - contextlib costs this path an import
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return
        for number, wait in ((signal.SIGTERM, _KILL_GRACE_S), (signal.SIGKILL, _KILL_GRACE_S)):
            if select.select([self.pidfd], [], [], 0)[0]:
                return  # exited
            for sent in (number, signal.SIGCONT):  # a stopped child gets TERM only when continued
                try:  # noqa: SIM105 - contextlib costs this path an import
                    os.killpg(self.pid, sent)
                except ProcessLookupError:
                    pass
            if select.select([self.pidfd], [], [], wait)[0]:
                return

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class _Forwarder:
    """Ctrl-C (and TERM, HUP) go to the child's process group, as a terminal would.

    A signal this process ignores (``nohup``) is left alone, and the child is told
    to ignore it too, as it would be in-process.
    """

    def __init__(self) -> None:
        import signal

        self.group: int | None = None
        self.pending: int | None = None
        self.ignored: list[int] = []
        self._saved: dict[int, Any] = {}
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(number) == signal.SIG_IGN:
                self.ignored.append(int(number))
            else:
                self._saved[number] = signal.signal(number, self._handle)

    def _handle(self, number: int, _frame: object) -> None:
        if self.group is None:
            self.pending = self.pending or number
            return
        try:  # noqa: SIM105 - contextlib costs this fast path an import
            os.killpg(self.group, number)
        except ProcessLookupError:
            pass

    def attach(self, group: int) -> None:
        self.group = group
        if self.pending:
            self._handle(self.pending, None)

    def restore(self) -> None:
        import signal

        for number, handler in self._saved.items():
            signal.signal(number, handler)
        self._saved = {}


def call(op: str, path: str, timeout: float = HANDSHAKE_TIMEOUT_S) -> dict[str, Any]:
    """One request/answer exchange (status, stop) with the server at ``path``."""
    sock = connect(path)
    try:
        sock.settimeout(timeout)
        channel = Channel(sock)
        channel.send({"op": op, "protocol": PROTOCOL, "identity": identity()})
        answer, _ = channel.receive()
        return answer
    finally:
        sock.close()
