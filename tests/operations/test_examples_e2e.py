"""The operation example migrations, end to end through the engine (advance / rollback).

Seeds users, then advances every migration through all five phases, checking
the data lands in its new shape; and rolls each reversible phase back and
forward again, checking the schema comes back identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expandctl.commands.advance import advance, load_set
from expandctl.commands.rollback import rollback
from expandctl.model.phases import PHASES, Phase, State
from tests.conftest import PROJECT_ROOT, PgDatabase
from tests.engine.conftest import Project
from tests.operations.support import snapshot

pytestmark = pytest.mark.db

OPERATION_EXAMPLES = ["0010", "0011", "0012", "0013", "0014"]


@pytest.fixture
def project(tmp_path: Path, pg_database: PgDatabase) -> Project:
    project = Project(root=tmp_path, db=pg_database, overrides={})
    project.overrides["migrations_dir"] = str(PROJECT_ROOT / "migrations")
    return project


def seed(project: Project) -> None:
    config = project.config()
    advance(config, "0001_create_users", yes=True)
    advance(config, "0002_add_users_nickname", yes=True)
    project.query(
        "INSERT INTO users (email, name, age, nickname)"
        " SELECT 'u' || g || '@example.com', 'Ada' || g || ' Lovelace', g %% 90,"
        "        CASE WHEN g %% 2 = 0 THEN 'nick' || g END"
        " FROM generate_series(1, 500) AS g",
        (),
    )


def test_examples_reach_their_new_shape_with_the_data(project: Project) -> None:
    seed(project)
    config = project.config()
    ids = load_set(config).ids
    assert [i[:4] for i in ids if i[:4] in OPERATION_EXAMPLES] == OPERATION_EXAMPLES
    for _ in PHASES:
        advance(config, all_migrations=True, yes=True)
    states = {mid: project.state(mid) for mid in ids}
    assert set(states.values()) == {State.CONTRACT.value}, states
    columns = {
        r[0]: (r[1], r[2])
        for r in project.query(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
            " WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped"
        )
    }
    assert not {"email", "name", "age"} & set(columns)
    assert columns["email_address"] == ("text", True)
    assert columns["first_name"] == ("text", True)
    assert columns["age_years"] == ("bigint", False)
    assert columns["nickname"] == ("text", True)
    assert columns["team_id"] == ("bigint", False)
    assert project.query(
        "SELECT email_address, first_name, last_name, age_years, nickname FROM users WHERE id = 3"
    ) == [("u3@example.com", "Ada3", "Lovelace", 3, "")]
    assert project.one("SELECT count(*) FROM users") == 500
    assert (
        project.query(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal"
        )
        == []
    )


@pytest.mark.parametrize("phase", [p for p in PHASES if p.reversible], ids=lambda p: p.value)
def test_examples_roll_back_and_forward_to_the_same_schema(project: Project, phase: Phase) -> None:
    seed(project)
    config = project.config()
    ids = [i for i in load_set(config).ids if i[:4] in OPERATION_EXAMPLES]
    for mid in ids:
        if phase.previous is not None:
            advance(config, mid, to=phase.previous, yes=True)
    before = snapshot(project.db.dsn)
    for mid in ids:
        advance(config, mid, to=phase, yes=True)
    after = snapshot(project.db.dsn)
    for mid in reversed(ids):
        rollback(config, mid, yes=True)
        assert project.state(mid) == State.after(phase.previous).value
    assert snapshot(project.db.dsn) == before
    for mid in ids:
        advance(config, mid, to=phase, yes=True)
    assert snapshot(project.db.dsn) == after
