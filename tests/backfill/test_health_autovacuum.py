"""A real autovacuum worker, and a real anti-wraparound one, hold the backfill's vacuum check.

The shared test server cannot be made to start an autovacuum on cue, so this
builds its own server (``initdb``, as tests/standby does) with
``autovacuum_naptime = 1s``. Per-table settings make autovacuum pick the table
at once and crawl through it (``autovacuum_vacuum_cost_delay``), so the check
sees it at work. For wraparound, the table's ``autovacuum_freeze_max_age`` is
set to its minimum (100,000) after burning that many transaction ids.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from expandctl.engine.backfill.health import VacuumWatch, vacuums_on
from tests.pg_provider import Server
from tests.standby.cluster import (
    START_TIMEOUT,
    Node,
    NoStandby,
    _free_port,
    _Runner,
    bin_dir_for,
    server_user,
)

pytestmark = pytest.mark.db

CRAWL = (
    "autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1,"
    " autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,"
    " autovacuum_vacuum_insert_threshold = 0, autovacuum_vacuum_insert_scale_factor = 0"
)


@pytest.fixture(scope="module")
def eager_autovacuum(pg_server: Server) -> Iterator[Node]:
    """A server of the version under test whose autovacuum looks every second."""
    try:
        bin_dir = bin_dir_for(pg_server.backend, pg_server.version)
        server_user()
    except NoStandby as exc:
        pytest.skip(f"cannot build a server of our own for PostgreSQL {pg_server.version}: {exc}")
    root = Path(tempfile.mkdtemp(prefix="expandctl-autovacuum-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        run = _Runner(bin_dir, root)
        node = Node("autovacuum", root / "data", _free_port())
        run("initdb", "-D", str(node.data_dir), "-U", "postgres", "--auth=trust", "-N")
        with (node.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{root}'\n"
                "autovacuum_naptime = 1\nfsync = off\nshared_buffers = '32MB'\n"
            )
        run(
            "pg_ctl", "-D", str(node.data_dir), "-l", str(root / "server.log"),
            "-o", f"-p {node.port}", "-w", "-t", str(int(START_TIMEOUT)), "start",
        )  # fmt: skip
        cleanup.callback(
            lambda: run("pg_ctl", "-D", str(node.data_dir), "-m", "immediate", "-w", "stop")
        )
        yield node


def _autovacuum_at_work(node: Node, table: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not node.query(
        "SELECT count(*) FROM pg_stat_progress_vacuum p JOIN pg_stat_activity a USING (pid)"
        f" WHERE p.relid = '{table}'::regclass AND a.backend_type = 'autovacuum worker'"
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no autovacuum worker started on {table}")
        time.sleep(0.1)


def test_an_autovacuum_worker_is_seen_and_named(eager_autovacuum: Node) -> None:
    node = eager_autovacuum
    node.query(f"CREATE TABLE plain (id int PRIMARY KEY, v text) WITH ({CRAWL})")
    node.query("INSERT INTO plain SELECT g, 'x' FROM generate_series(1, 20000) g")
    node.query("UPDATE plain SET v = 'y'")  # dead rows: autovacuum has work
    _autovacuum_at_work(node, "plain")
    with node.connect() as conn:
        found = vacuums_on(conn, "plain")
        reason = VacuumWatch("plain").reason(conn)
    assert [(v.autovacuum, v.wraparound) for v in found] == [(True, False)]
    assert reason is not None and reason.startswith("waiting: autovacuum on plain, ")
    assert reason.endswith(" (pause_on_vacuum)")


def test_an_anti_wraparound_autovacuum_is_named_so(eager_autovacuum: Node) -> None:
    node = eager_autovacuum
    node.query(
        "CREATE TABLE old (id int PRIMARY KEY, v text)"
        " WITH (autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)"
    )
    node.query("INSERT INTO old SELECT g, 'x' FROM generate_series(1, 20000) g")
    # 100,000 transaction ids later the table is "old" for the lowest freeze age allowed
    node.query(
        "DO $$ BEGIN FOR i IN 1..100001 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$"
    )
    node.query("ALTER TABLE old SET (autovacuum_freeze_max_age = 100000)")
    _autovacuum_at_work(node, "old")
    with node.connect() as conn:
        found = vacuums_on(conn, "old")
        reason = VacuumWatch("old").reason(conn)
    assert [(v.autovacuum, v.wraparound) for v in found] == [(True, True)]
    assert reason is not None
    assert reason.startswith("waiting: autovacuum (to prevent wraparound) on old, "), reason
