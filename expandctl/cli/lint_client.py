"""The fast path of ``expandctl lint``: hand the run to a resident lint server.

Standard library only, and only modules that load in a millisecond (no click,
pydantic, sqlglot, nor the rest of the CLI): a pre-commit hook or an editor
then pays Python's start-up and this module, and the server's forked child
lints on this process's own stdin, stdout and stderr (passed as file
descriptors), in its working directory and environment. Anything that fails
before the child has started returns None: the caller lints in-process.

The wire format, shared with ``lint_server``: frames of a 4-byte big-endian
length and a JSON object; the first frame of a lint request carries the
descriptors (stdin, stdout, stderr, cwd) as SCM_RIGHTS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import sys
from typing import Any

DIR_ENV = "EXPANDCTL_LINT_SERVER_DIR"
SWITCH_ENV = "EXPANDCTL_LINT_SERVER"  # "0": never use the server
PROTOCOL = 1
# Until the server has accepted a request nothing ran: past this, lint in-process.
HANDSHAKE_TIMEOUT_S = 5.0
MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct("!I")
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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
        return configured
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "expandctl")
    return f"/tmp/expandctl-{os.getuid()}"


def check_dir(path: str, *, create: bool = False) -> None:
    """Refuse a socket directory another user owns or could write into (or read)."""
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
    """A short FNV-1a hash of the identity (no hashlib: it costs more to import than
    this takes). Collisions are harmless: the server compares the whole identity."""
    value = 0xCBF29CE484222325
    for byte in json.dumps(ident, sort_keys=True).encode("utf-8", "surrogateescape"):
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
        data = json.dumps(message).encode("utf-8")
        frame = _HEADER.pack(len(data)) + data
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
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if size > MAX_FRAME:
                    raise ValueError(f"frame of {size} bytes")
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    data, self._buffer = self._buffer[_HEADER.size : end], self._buffer[end:]
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
    if not os.path.exists(path):
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
    request = {
        "op": "lint",
        "protocol": PROTOCOL,
        "identity": ident,
        "argv": argv,
        "environ": dict(os.environ),
        "umask": umask,
        "streams": streams,
    }
    forwarder = _Forwarder()
    try:
        return _exchange(path, request, forwarder)
    except Unavailable:
        if forwarder.pending:  # interrupted before anything ran: do not lint at all
            return 128 + forwarder.pending
        raise
    finally:
        forwarder.restore()


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
        channel = Channel(sock)
        try:
            channel.send(request, (0, 1, 2, cwd))
            answer, _ = channel.receive()
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
            channel.send({"type": "go"})
            sock.settimeout(None)  # the lint takes as long as it takes
            started, _ = channel.receive()
        except (OSError, EOFError, ValueError) as exc:
            raise Unavailable(f"lint server protocol error ({exc})") from None
        if started.get("type") != "started":
            raise Unavailable(f"lint server refused: {started.get('reason', started)}")
        forwarder.attach(int(started["pid"]))
        return _wait_for_exit(channel, forwarder)
    finally:
        os.close(cwd)
        sock.close()


def _wait_for_exit(channel: Channel, forwarder: _Forwarder) -> int:
    """The child's exit status: a code, or the signal that killed it, re-raised on us."""
    try:
        done, _ = channel.receive()
    except (OSError, EOFError, ValueError):
        if forwarder.pending:
            return 130
        sys.stderr.write("error: the lint server stopped before the lint finished\n")
        return 70
    number = done.get("signal")
    if number:
        forwarder.restore()
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        return 128 + int(number)
    return int(done.get("code", 70))


class _Forwarder:
    """Ctrl-C (and TERM, HUP) go to the child's process group, as a terminal would."""

    def __init__(self) -> None:
        self.group: int | None = None
        self.pending: int | None = None
        self._saved = {sig: signal.signal(sig, self._handle) for sig in _FORWARDED}

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
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
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
