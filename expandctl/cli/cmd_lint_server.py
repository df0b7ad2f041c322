"""``expandctl lint-server start|stop|status``: the opt-in resident linter (docs/lint-server.md)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import click

from expandctl.cli.lint_client import (
    InsecureDir,
    call,
    check_dir,
    identity,
    server_paths,
    socket_dir,
)
from expandctl.cli.output import echo_json, format_option
from expandctl.errors import ConfigError, UsageError

_STOP_WAIT_S = 40.0  # the server lets running lints finish for up to 30 s
_DAEMON = (
    "import sys; from expandctl.cli.lint_server import run_daemon; "
    "run_daemon(sys.argv[1], float(sys.argv[2]), sys.argv[3] == 'foreground')"
)


@click.group("lint-server")
def lint_server_group() -> None:
    """Keep the linter loaded in the background, so each lint starts in milliseconds.

    Once started, ``expandctl lint`` hands its run to the server (same output,
    exit code and cache); without one it lints in-process. Linux only.
    """


@lint_server_group.command("start")
@click.option(
    "--idle-timeout",
    default="30min",
    show_default=True,
    metavar="DURATION",
    help="Exit after this long without a request (500ms, 10s, 30min, 2h; 0s: never).",
)
@click.option("--foreground", is_flag=True, help="Stay attached and log to stderr.")
def start_command(idle_timeout: str, foreground: bool) -> None:
    """Start the lint server for this interpreter and expandctl (no-op if running)."""
    if not (hasattr(socket, "SO_PEERCRED") and hasattr(os, "pidfd_open")):
        raise UsageError("the lint server needs Linux (SO_PEERCRED, pidfd_open)")
    directory = _private_dir(create=True)
    paths = server_paths(directory, identity())
    lock = os.open(paths["lock"], os.O_WRONLY | os.O_CREAT, 0o600)
    try:  # one start at a time per server
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = _status(paths["socket"])
        if running is not None:
            click.echo(f"lint server already running (pid {running['pid']}, {paths['socket']})")
            return
        seconds = _seconds(idle_timeout)  # after the check: parsing it imports pydantic
        command = [sys.executable, "-c", _DAEMON, directory, str(seconds)]
        env = _daemon_env()
        if foreground:
            sys.stdout.flush()
            os.execve(sys.executable, [*command, "foreground"], env)
        daemon = subprocess.Popen(
            [*command, "background"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env
        )
        output, _ = daemon.communicate()
    finally:
        os.close(lock)
    report = _last_json_line(output)
    if "pid" not in report:
        problem = report.get("error", f"no answer (exit {daemon.returncode})")
        raise ConfigError(f"the lint server did not start: {problem}", hint=f"see {paths['log']}")
    never = "never" if not seconds else f"after {idle_timeout} idle"
    click.echo(f"lint server started (pid {report['pid']}, {paths['socket']}; exits {never})")


@lint_server_group.command("stop")
def stop_command() -> None:
    """Stop the lint server (running lints finish first); no-op if none runs."""
    paths = server_paths(_private_dir(), identity())
    answer: dict[str, Any] | None
    try:
        answer = call("stop", paths["socket"])
    except FileNotFoundError:
        click.echo("lint server not running")
        return
    except ConnectionRefusedError:
        answer = _remove_stale_socket(paths)
    except (OSError, EOFError, ValueError) as exc:
        raise ConfigError(f"cannot reach the lint server at {paths['socket']}: {exc}") from None
    if answer is None:
        return
    if answer.get("type") != "stopping":
        reason = answer.get("reason", answer)
        raise ConfigError(f"the lint server at {paths['socket']} refused to stop: {reason}")
    pid = int(answer["pid"])
    deadline = time.monotonic() + _STOP_WAIT_S
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if process_alive(pid):
        raise ConfigError(
            f"the lint server (pid {pid}) is still running", hint=f"kill {pid} ends it"
        )
    click.echo(f"lint server stopped (pid {pid})")


@lint_server_group.command("status")
@format_option()
def status_command(output_format: str) -> None:
    """Whether the lint server runs: its pid, socket, uptime and requests served."""
    paths = server_paths(_private_dir(), identity())
    report = _status(paths["socket"])
    if output_format == "json":
        shown = {"running": report is not None, "socket": paths["socket"], **(report or {})}
        shown.pop("type", None)
        echo_json(shown)
        return
    if report is None:
        click.echo(f"lint server: not running ({paths['socket']})")
        return
    click.echo(
        f"lint server: running, pid {report['pid']}\n"
        f"socket: {report['socket']}\n"
        f"log: {report['log']}\n"
        f"uptime: {_duration(report['uptime_s'])}\n"
        f"requests served: {report['requests']} ({report['active']} in progress)\n"
        f"expandctl {report['version']} from {report['package']}, {report['executable']}"
    )


def _remove_stale_socket(paths: dict[str, str]) -> dict[str, Any] | None:
    """A crashed server's socket file: removed under the start lock, so never the
    socket of a server that a concurrent ``start`` has just bound. If one answers
    by then, its answer to "stop"."""
    lock = os.open(paths["lock"], os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return call("stop", paths["socket"])
        except FileNotFoundError:
            click.echo("lint server not running")
        except ConnectionRefusedError:
            os.unlink(paths["socket"])
            click.echo(f"lint server not running (removed its stale socket {paths['socket']})")
        except (OSError, EOFError, ValueError) as exc:
            raise ConfigError(f"cannot reach the lint server at {paths['socket']}: {exc}") from None
        return None
    finally:
        os.close(lock)


def _status(path: str) -> dict[str, Any] | None:
    """The server's status answer, or None when none answers at ``path``."""
    try:
        answer = call("status", path)
    except (OSError, EOFError, ValueError):
        return None
    return answer if answer.get("type") == "status" else None


def _private_dir(*, create: bool = False) -> str:
    directory = socket_dir()
    try:
        check_dir(directory, create=create)
    except FileNotFoundError:
        if create:
            raise ConfigError(
                f"cannot create the lint server directory {directory}: its parent is missing",
                hint="create it, or set EXPANDCTL_LINT_SERVER_DIR",
            ) from None
    except InsecureDir as exc:
        raise ConfigError(f"unsafe lint server directory: {exc}") from None
    return directory


_PROBE = (
    "import sys; sys.path = [p for p in sys.path if p]; import expandctl, os; "
    "print(os.path.dirname(os.path.abspath(expandctl.__file__)))"
)


def _daemon_env() -> dict[str, str]:
    """This environment, and if the daemon would not import this very expandctl
    without help (``python -m`` from a checkout finds it through the working
    directory, which the daemon leaves), its root on PYTHONPATH: appended when
    nothing else is found (a prepended site-packages would let its backports
    shadow the standard library), prepended only to win over another expandctl."""
    package = identity()["package"]
    env = dict(os.environ)
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd="/", capture_output=True, text=True
    )
    found = probe.stdout.strip() if probe.returncode == 0 else ""
    if found == package:
        return env
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    root = os.path.dirname(package)
    env["PYTHONPATH"] = os.pathsep.join([root, *parts] if found else [*parts, root])
    return env


def _seconds(text: str) -> float:
    from expandctl.model.durations import parse_duration

    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"--idle-timeout: {exc}") from None


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def process_alive(pid: int) -> bool:
    """Running, and not a zombie nobody has reaped yet (e.g. in a container)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _last_json_line(output: bytes) -> dict[str, Any]:
    for line in reversed(output.decode("utf-8", "replace").splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return {}
