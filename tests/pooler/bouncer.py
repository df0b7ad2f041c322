"""A real PgBouncer in front of the test server, on a free loopback port in a temp dir.

Its own ini and auth file, ``auth_type = trust``, and a small pool so server
connections really are shared between clients. Whatever server the pass tests
against (the machine's PostgreSQL 15 over TCP, or the embedded 18 over its
Unix socket), PgBouncer connects to it with the fixture's host, port and user.
As root (CI) it runs as the ``postgres`` OS user: PgBouncer refuses to run as root.
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

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import PgDatabase
from tests.pg_provider import Server

PGBOUNCER = os.environ.get("EXPANDCTL_TEST_PGBOUNCER", "/usr/sbin/pgbouncer")
START_TIMEOUT = 15.0


class NoBouncer(Exception):
    """PgBouncer or the OS user to run it as is missing; the reason says which."""


@dataclass(frozen=True)
class Bouncer:
    port: int
    pool_mode: str
    pool_size: int
    root: Path

    def database(self, direct: PgDatabase) -> PgDatabase:
        """The same database as ``direct``, reached through this PgBouncer."""
        dsn = make_conninfo(direct.dsn, host="127.0.0.1", port=str(self.port))
        user = conninfo_to_dict(direct.dsn).get("user", "postgres")
        url = f"postgresql://{user}@127.0.0.1:{self.port}/{direct.name}"
        return PgDatabase(direct.name, dsn, url, direct.server)

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def bouncer_binary() -> str:
    found = shutil.which("pgbouncer") or PGBOUNCER
    if not Path(found).exists():
        raise NoBouncer(f"no PgBouncer binary at {PGBOUNCER} and none on PATH")
    return found


def _run_as(host: str) -> str | None:
    """As root: the OS user of the server's Unix socket directory (it can reach the
    socket; the embedded server runs as its own user), else ``postgres``."""
    if os.geteuid() != 0:
        return None
    if host.startswith("/"):
        return pwd.getpwuid(os.stat(host).st_uid).pw_name
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError as exc:
        raise NoBouncer("running as root and there is no 'postgres' OS user") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _backend(server: Server) -> tuple[str, str, str, str | None]:
    """host (or socket dir), port, user, password of the server under test."""
    params = conninfo_to_dict(server.admin_dsn)
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('port')").fetchone()
    assert row is not None
    host = str(params.get("host") or "127.0.0.1")
    password = params.get("password")
    return (
        host,
        str(row[0]),
        str(params.get("user", "postgres")),
        (str(password) if password else None),
    )


@contextlib.contextmanager
def pgbouncer(
    server: Server, *, pool_mode: str, pool_size: int, round_robin: bool = False
) -> Iterator[Bouncer]:
    """Start PgBouncer in ``pool_mode`` in front of ``server``; stop it afterwards.

    ``round_robin``: hand out the idle server connection used least recently
    (``server_round_robin = 1``) instead of the most recently used one (LIFO).
    """
    binary = bouncer_binary()
    host, port, db_user, password = _backend(server)
    user = _run_as(host)
    root = Path(tempfile.mkdtemp(prefix=f"expandctl-pgbouncer-{pool_mode}-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        bouncer = Bouncer(_free_port(), pool_mode, pool_size, root)
        target = f"host={host} port={port} user={db_user}"
        if password:
            target += f" password={password}"
        (root / "userlist.txt").write_text(f'"{db_user}" ""\n')
        (root / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = {target}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {bouncer.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {root / 'userlist.txt'}",
                    f"pool_mode = {pool_mode}",
                    f"default_pool_size = {pool_size}",
                    "max_client_conn = 200",
                    f"logfile = {root / 'pgbouncer.log'}",
                    f"pidfile = {root / 'pgbouncer.pid'}",
                    # the tests' databases come and go; do not keep pools for the dropped ones
                    "server_lifetime = 60",
                    "server_idle_timeout = 10",
                    f"server_round_robin = {int(round_robin)}",
                    "",
                ]
            )
        )
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (root, root / "userlist.txt", root / "pgbouncer.ini"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        out = (root / "stdout.log").open("w")
        cleanup.callback(out.close)
        process = subprocess.Popen(
            [binary, str(root / "pgbouncer.ini")],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=root,
            user=user,
        )
        cleanup.callback(_stop, process)
        _wait_ready(bouncer, process)
        yield bouncer


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: immediate shutdown
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_ready(bouncer: Bouncer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            stdout = (bouncer.root / "stdout.log").read_text(errors="replace")
            raise RuntimeError(f"pgbouncer exited ({process.returncode}):\n{stdout}{bouncer.log()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", bouncer.port), timeout=1),
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"pgbouncer did not listen on {bouncer.port}:\n{bouncer.log()}")
        time.sleep(0.05)

