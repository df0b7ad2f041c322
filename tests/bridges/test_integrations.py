"""The application helpers pick the column of the phase the database reached."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from expandctl import runtime
from expandctl.commands.advance import advance
from expandctl.errors import ConfigError
from expandctl.integrations import sqlalchemy as sa_helpers
from expandctl.model.phases import Phase
from tests.bridges.conftest import ToolProject
from tests.conftest import PgDatabase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

MIGRATION = "0001_rename_users_name"


def _project(tmp_path_factory: pytest.TempPathFactory, db: PgDatabase) -> Project:
    project = Project(root=tmp_path_factory.mktemp("p"), db=db, overrides={})
    with db.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text)")
    project.add(
        MIGRATION,
        manifest='[[operations]]\nop = "rename_column"\ntable = "users"\ncolumn = "name"\n'
        'to = "full_name"\ntype = "text"\n',
    )
    return project


def _names(bind: object) -> tuple[str, str]:
    runtime.invalidate()
    return (
        sa_helpers.column_name(bind, MIGRATION, old="name", new="full_name"),
        sa_helpers.column_name(bind, MIGRATION, old="name", new="full_name", write=True),
    )


def test_sqlalchemy_column_names_follow_the_phase(
    tmp_path_factory: pytest.TempPathFactory, pg_database: PgDatabase
) -> None:
    project = _project(tmp_path_factory, pg_database)
    engine = create_engine(pg_database.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with Session(engine) as session, engine.connect() as connection:
            assert _names(session) == ("name", "name")
            advance(project.config(), MIGRATION, to=Phase.SWITCH_READS, yes=True)
            assert _names(session) == ("full_name", "name")
            assert _names(connection) == ("full_name", "name")
            advance(project.config(), MIGRATION, to=Phase.SWITCH_WRITES, yes=True)
            assert _names(session) == ("full_name", "full_name")
            # the lookup ran inside the session's transaction without disturbing it
            assert session.execute(text("SELECT count(*) FROM users")).scalar() == 0
    finally:
        engine.dispose()
    with pytest.raises(ConfigError, match="psycopg 3 driver"):
        sa_helpers.column_name(object(), MIGRATION, old="name", new="full_name")


def test_django_column_names_follow_the_phase(
    tmp_path_factory: pytest.TempPathFactory, django_project: ToolProject
) -> None:
    project = _project(tmp_path_factory, django_project.db)
    script = (
        "import django; django.setup()\n"
        "from expandctl.integrations.django import column_name\n"
        f"print(column_name('{MIGRATION}', old='name', new='full_name'),"
        f" column_name('{MIGRATION}', old='name', new='full_name', write=True))\n"
    )
    before = django_project.run(sys.executable, "-c", script).stdout.split()
    advance(project.config(), MIGRATION, to=Phase.SWITCH_READS, yes=True)
    after = django_project.run(sys.executable, "-c", script).stdout.split()
    assert (before, after) == (["name", "name"], ["full_name", "name"])
