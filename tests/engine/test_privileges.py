"""Least privilege: after ``expandctl init``, a deploy role without CREATE runs every command.

The deploy role owns the application table (so it may ALTER it) and may
create functions and triggers in ``public``, but has no CREATE on the database
and none on the state schema. Roles are cluster-wide: each test makes its own
with a unique name and drops it afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from click.testing import CliRunner, Result

from expandctl.cli.app import cli
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

MID = "0001_rename_users_email"
RENAME = """
[[operations]]
op = "rename_column"
table = "users"
column = "email"
to = "email_address"
type = "text"
not_null = true
"""
# A hand-written migration with a [backfill] section, the kind `backfill pause` steers.
NORM = "0002_users_name_norm"
NORM_MANIFEST = """
retires = ["users.name"]

[backfill]
table = "users"
set = { name_norm = "lower(name)" }
where = "name_norm IS DISTINCT FROM lower(name)"
batch_size = 50
"""
ROWS = 300


@dataclass
class Role:
    name: str
    password: str
    url: str


def _role_url(admin_url: str, role: str, password: str) -> str:
    parts = urlsplit(admin_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}"))


@pytest.fixture
def make_role(project: Project) -> Iterator[Any]:
    """Roles with a password (it must never show up in any output), dropped at teardown."""
    made: list[str] = []

    def make(prefix: str) -> Role:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        password = f"pw-{uuid.uuid4().hex}"
        project.query(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
        made.append(name)
        return Role(name, password, _role_url(project.db.url, name, password))

    yield make
    for name in made:
        project.query(f'DROP OWNED BY "{name}"')
        project.query(f'DROP ROLE "{name}"')


@pytest.fixture
def deployer(project: Project, make_role: Any) -> Role:
    """Owns users; may create functions/triggers in public; no CREATE on the database."""
    role: Role = make_role("deployer")
    project.query("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, name text)")
    project.query(
        "INSERT INTO users SELECT g, 'U' || g || '@example.com', 'N' || g"
        " FROM generate_series(1, %s) g",
        (ROWS,),
    )
    project.query(f'ALTER TABLE users OWNER TO "{role.name}"')
    project.query(f'GRANT CREATE ON SCHEMA public TO "{role.name}"')
    project.add(MID, manifest=RENAME)
    project.add(
        NORM,
        manifest=NORM_MANIFEST,
        expand="ALTER TABLE users ADD COLUMN name_norm text;\n",
        expand_down="ALTER TABLE users DROP COLUMN name_norm;\n",
        switch_reads="CREATE INDEX CONCURRENTLY IF NOT EXISTS users_nn ON users (name_norm);\n",
        switch_reads_down="DROP INDEX CONCURRENTLY IF EXISTS users_nn;\n",
        contract="ALTER TABLE users DROP COLUMN name;\n",
    )
    return role


def run_as(project: Project, role: Role | None, *args: str) -> Result:
    config = project.root / "expandctl.toml"
    if not config.exists():
        project.write_config()
    url = role.url if role else project.db.url
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--database-url", url, *args], catch_exceptions=False
    )
    if role is not None:
        assert role.password not in result.output, result.output
    return result


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def _state_objects(project: Project) -> list[tuple[Any, ...]]:
    """Everything in the state schema, with owners and ACLs: proof that nothing changed."""
    return project.query(
        "SELECT c.relname, c.relkind, c.relowner::regrole::text, c.relacl::text"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'expandctl'"
        " UNION ALL SELECT nspname, 'n', nspowner::regrole::text, nspacl::text"
        " FROM pg_namespace WHERE nspname = 'expandctl' ORDER BY 1, 2"
    )


def test_create_if_not_exists_checks_the_privilege_before_existence(
    project: Project, deployer: Role
) -> None:
    """Why the lazy path must read the catalog first: IF NOT EXISTS does not save a role
    without CREATE, even when the object is there."""
    ok(run_as(project, None, "init", "--grant", deployer.name))
    with psycopg.connect(project.db.dsn, user=deployer.name, password=deployer.password) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("CREATE SCHEMA IF NOT EXISTS expandctl")
        c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("CREATE TABLE IF NOT EXISTS expandctl.backfill_control (x int)")


def test_without_init_a_deploy_role_gets_one_clear_line(project: Project, deployer: Role) -> None:
    expected = (
        f"error: the state schema expandctl does not exist and {deployer.name} cannot create "
        "it: run 'expandctl init' as an administrator (see docs/security.md)\n"
    )
    for command in (["advance", MID], ["backfill", "pause", NORM]):
        result = run_as(project, deployer, *command)
        assert result.exit_code == 2, result.output
        assert result.stderr == expected
    # Reading works and says nothing ran yet; nothing was created.
    assert "not created yet" in ok(run_as(project, deployer, "status")).output
    assert _state_objects(project) == []


def test_after_init_a_deploy_role_runs_every_command(project: Project, deployer: Role) -> None:
    init = ok(run_as(project, None, "init", "--grant", deployer.name)).output
    assert f"granted {deployer.name} what every command needs" in init
    no_create = project.one(
        "SELECT has_database_privilege(%s, current_database(), 'CREATE')"
        " OR has_schema_privilege(%s, 'expandctl', 'CREATE')",
        (deployer.name, deployer.name),
    )
    assert no_create is False

    ok(run_as(project, deployer, "status"))
    assert "ADD COLUMN" in ok(run_as(project, deployer, "plan", MID)).output
    # A generated operation: all five phases, with a rollback on the way.
    for _ in range(3):  # expand, backfill, switch-reads
        ok(run_as(project, deployer, "advance", MID, "--yes"))
    ok(run_as(project, deployer, "rollback", MID, "--yes"))
    for _ in range(3):  # switch-reads, switch-writes, contract
        ok(run_as(project, deployer, "advance", MID, "--yes"))
    # A hand-written backfill, paused and resumed from outside.
    ok(run_as(project, deployer, "advance", NORM))  # expand
    paused = "SELECT paused FROM expandctl.backfill_control WHERE migration_id = %s"
    ok(run_as(project, deployer, "backfill", "pause", NORM))
    assert project.one(paused, (NORM,)) is True
    ok(run_as(project, deployer, "backfill", "resume", NORM))
    assert project.one(paused, (NORM,)) is False
    ok(run_as(project, deployer, "advance", NORM))  # backfill
    shown = ok(run_as(project, deployer, "backfill", "status", NORM, "--format", "json"))
    [checkpoint] = json.loads(shown.output)["backfills"]
    assert checkpoint["finished"] and checkpoint["rows_done"] == ROWS
    for _ in range(3):
        ok(run_as(project, deployer, "advance", NORM, "--yes"))
    assert "contract" in ok(run_as(project, deployer, "status")).output
    assert "rollback" in ok(run_as(project, deployer, "history", MID)).output

    assert project.state(NORM) == "contract"
    assert project.one("SELECT count(*) FROM users WHERE name_norm LIKE 'n%%'") == ROWS
    assert project.state(MID) == "contract"
    assert project.one("SELECT count(*) FROM users WHERE email_address LIKE 'U%%'") == ROWS
    columns = project.query(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum"
    )
    assert columns == [("id",), ("email_address",), ("name_norm",)]


def test_init_is_idempotent(project: Project, deployer: Role) -> None:
    first = ok(run_as(project, None, "init", "--grant", deployer.name)).output
    assert "created table expandctl.backfill_checkpoints" in first
    before = _state_objects(project)
    second = ok(run_as(project, None, "init", "--grant", deployer.name, "--format", "json"))
    report = json.loads(second.output)
    assert report["created"] == [] and report["applied"] is True
    assert all(s.startswith("GRANT ") for s in report["statements"])
    assert _state_objects(project) == before
    third = ok(run_as(project, None, "init")).output
    assert "state schema expandctl is complete" in third
    assert _state_objects(project) == before


def test_print_sql_changes_nothing(project: Project, deployer: Role) -> None:
    shown = ok(run_as(project, None, "init", "--print-sql", "--grant", deployer.name)).output
    assert 'CREATE SCHEMA IF NOT EXISTS "expandctl";' in shown
    assert f'GRANT USAGE ON SCHEMA "expandctl" TO "{deployer.name}";' in shown
    assert _state_objects(project) == []
    # The printed SQL is what init runs: applied by hand, init finds nothing left to create.
    with psycopg.connect(project.db.dsn, autocommit=True) as conn, conn.transaction():
        script = "\n".join(line for line in shown.splitlines() if not line.startswith("--"))
        conn.execute(script.encode())
    again = ok(run_as(project, None, "init", "--print-sql")).output
    assert "nothing to do" in again
    ok(run_as(project, deployer, "advance", MID))


def test_init_upgrades_an_older_layout_and_keeps_earlier_grants(
    project: Project, deployer: Role
) -> None:
    ok(run_as(project, None, "init", "--grant", deployer.name))
    ok(run_as(project, deployer, "advance", MID))
    # The layout of expandctl 0.1.0 before any backfill ran: no backfill tables.
    project.query("DROP TABLE expandctl.backfill_checkpoints, expandctl.backfill_control")
    refused = run_as(project, deployer, "advance", MID)
    assert refused.exit_code == 2, refused.output
    assert (
        f"the state schema expandctl lacks table expandctl.backfill_checkpoints, table "
        f"expandctl.backfill_control and {deployer.name} cannot create them: run 'expandctl "
        "init' as an administrator" in refused.stderr
    )
    upgraded = ok(run_as(project, None, "init")).output  # no --grant: earlier grants are kept
    assert "created table expandctl.backfill_control" in upgraded
    assert f"granted {deployer.name}" in upgraded
    ok(run_as(project, deployer, "advance", MID))
    assert project.state(MID) == "backfill"


def test_grant_read_gives_status_and_history_only(
    project: Project, deployer: Role, make_role: Any
) -> None:
    reader: Role = make_role("reader")
    ok(run_as(project, None, "init", "--grant", deployer.name, "--grant-read", reader.name))
    ok(run_as(project, deployer, "advance", MID))
    assert "expand" in ok(run_as(project, reader, "status")).output
    assert "expand" in ok(run_as(project, reader, "history")).output
    assert "backfill" in ok(run_as(project, reader, "plan", MID)).output
    ok(run_as(project, reader, "backfill", "status"))
    # Writing is refused by PostgreSQL (the state is read-only for this role).
    refused = run_as(project, reader, "advance", MID)
    assert refused.exit_code == 3, refused.output
    assert "permission denied for table" in refused.stderr
    assert project.state(MID) == "expand"


def test_a_role_without_grants_is_told_to_ask_for_one(
    project: Project, deployer: Role, make_role: Any
) -> None:
    stranger: Role = make_role("stranger")
    ok(run_as(project, None, "init", "--grant", deployer.name))
    result = run_as(project, stranger, "status")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: role {stranger.name} may not use the state schema expandctl: run "
        f"'expandctl init --grant {stranger.name}' as an administrator (see docs/security.md)\n"
    )


def test_init_refuses_bad_input_and_changes_nothing(project: Project, deployer: Role) -> None:
    unknown = run_as(project, None, "init", "--grant", deployer.name, "--grant", "no_such_role")
    assert unknown.exit_code == 2, unknown.output
    assert "no role 'no_such_role'" in unknown.stderr
    assert _state_objects(project) == []
    # The deploy role itself cannot run init: one line, nothing created.
    as_deployer = run_as(project, deployer, "init")
    assert as_deployer.exit_code == 2, as_deployer.output
    assert f"role {deployer.name} cannot set up the state schema expandctl" in as_deployer.stderr
    assert len(as_deployer.stderr.splitlines()) == 1
    assert _state_objects(project) == []
    # Nor can any role that does not own the state tables: a GRANT would only warn.
    ok(run_as(project, None, "init", "--grant", deployer.name))
    before = _state_objects(project)
    not_owner = run_as(project, deployer, "init", "--grant", deployer.name)
    assert not_owner.exit_code == 2, not_owner.output
    assert f"role {deployer.name} does not own expandctl." in not_owner.stderr
    assert _state_objects(project) == before
