"""advance/rollback through PgBouncer: refused in transaction mode, working in session mode."""

from __future__ import annotations

import pytest

from tests.conftest import PgDatabase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

MID = "0001_nickname"
ROWS = 500
# pg_locks shows the whole cluster; other tests run on the same server
ADVISORY_LOCKS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _migration(project: Project) -> None:
    project.query(
        "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, writes int DEFAULT 0)"
    )
    project.query(
        "INSERT INTO users (id, name) SELECT g, 'user ' || g FROM generate_series(1, %s) g", (ROWS,)
    )
    # Counts every write to a row: a batch applied twice would show as 2.
    project.query(
        "CREATE FUNCTION count_writes() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN NEW.writes := OLD.writes + 1; RETURN NEW; END $$"
    )
    project.query(
        "CREATE TRIGGER count_writes BEFORE UPDATE ON users FOR EACH ROW"
        " EXECUTE FUNCTION count_writes()"
    )
    project.add(
        MID,
        manifest="""
        [backfill]
        table = "users"
        set = { nickname = "name" }
        where = "nickname IS NULL"
        batch_size = 50
        """,
        expand="ALTER TABLE users ADD COLUMN nickname text;\n",
        expand_down="ALTER TABLE users DROP COLUMN nickname;\n",
    )


def _through(project: Project, db: PgDatabase) -> Project:
    return Project(root=project.root, db=db, overrides={})


def _locks_and_state(project: Project) -> tuple[object, ...]:
    return (
        project.one("SELECT to_regnamespace('expandctl') IS NOT NULL"),
        project.one(ADVISORY_LOCKS),
        project.one(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'users' AND column_name = 'nickname'"
        ),
    )


@pytest.mark.parametrize("command", [("advance", MID), ("advance", "--all"), ("rollback", MID)])
def test_transaction_pooling_is_refused_before_anything_changes(
    direct_project: Project, transaction_pooled: PgDatabase, command: tuple[str, ...]
) -> None:
    _migration(direct_project)
    before = _locks_and_state(direct_project)
    result = _through(direct_project, transaction_pooled).cli(*command)
    assert result.exit_code == 2, result.output
    assert "connection pooler in transaction or statement mode" in result.output
    assert "point --database-url" in result.output
    assert "nothing was locked or changed" in result.output
    assert _locks_and_state(direct_project) == before == (False, 0, 0)


def test_session_pooling_runs_every_step_once(
    direct_project: Project, session_pooled: PgDatabase
) -> None:
    _migration(direct_project)
    pooled = _through(direct_project, session_pooled)
    result = pooled.cli("advance", MID, "--to", "switch-reads")
    assert result.exit_code == 0, result.output
    assert direct_project.state(MID) == "switch-reads"
    assert direct_project.query(
        "SELECT writes, count(*) FROM users WHERE nickname = name GROUP BY writes"
    ) == [(1, ROWS)]
    # the lock went back with the session: a direct run takes it at once
    assert direct_project.one(ADVISORY_LOCKS) == 0
    rolled = pooled.cli("rollback", MID)
    assert rolled.exit_code == 0, rolled.output
    assert direct_project.state(MID) == "backfill"


def test_status_refuses_transaction_pooling_and_works_through_session_pooling(
    direct_project: Project, transaction_pooled: PgDatabase, session_pooled: PgDatabase
) -> None:
    """Its session-level limits would otherwise stay on a pooled server connection."""
    _migration(direct_project)
    assert direct_project.cli("advance", MID).exit_code == 0
    refused = _through(direct_project, transaction_pooled).cli("status")
    assert refused.exit_code == 2 and "point --database-url" in refused.output
    shown = _through(direct_project, session_pooled).cli("status")
    assert shown.exit_code == 0 and f"{MID}" in shown.output and "expand" in shown.output
