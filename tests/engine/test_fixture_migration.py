"""A realistic five-phase migration (fixtures/0003_users_email_normalized) under live writes.

It uses CONCURRENTLY (autocommit steps), a sync trigger, a backfill, NOT VALID
+ VALIDATE, gates and rollback files; it is offered as an example for migrations/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from expandctl.commands.advance import advance
from expandctl.commands.plan import plan
from expandctl.commands.rollback import rollback
from expandctl.model.phases import PHASES, Phase
from tests.conftest import PROJECT_ROOT
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

FIXTURE = Path(__file__).parent / "fixtures" / "0003_users_email_normalized"
MID = "0003_users_email_normalized"


@pytest.fixture
def users(project: Project) -> Project:
    pytest.importorskip("expandctl.engine.backfill")
    shutil.copytree(
        PROJECT_ROOT / "migrations" / "0001_create_users", project.migrations / "0001_create_users"
    )
    shutil.copytree(FIXTURE, project.migrations / MID)
    advance(project.config(), "0001_create_users")
    project.query(
        "INSERT INTO users (email, name) SELECT 'User' || g || '@X.org', 'u' "
        "FROM generate_series(1, 2000) g"
    )
    return project


def test_plan_marks_the_concurrent_index_autocommit(users: Project) -> None:
    report = plan(users.config(), MID)
    assert [s.mode for s in report.steps] == ["transaction"] * 3 + ["autocommit"]


def test_all_five_phases_with_rows_arriving_in_between(users: Project) -> None:
    config = users.config()
    for phase in PHASES:
        advance(config, MID, yes=True)
        assert users.state(MID) == phase.value
        email = f"New-{phase}@X.org"
        if phase is Phase.CONTRACT:  # only new code runs now: it writes the new column
            users.query(
                "INSERT INTO users (email, name, email_normalized) VALUES (%s, 'n', %s)",
                (email, email.lower()),
            )
        else:  # old code still writes only email; the trigger fills the new column
            users.query("INSERT INTO users (email, name) VALUES (%s, 'n')", (email,))
    assert users.one("SELECT count(*) FROM users WHERE email_normalized <> lower(email)") == 0
    assert users.one(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass "
        "AND attname = 'email_normalized'"
    )
    assert users.one(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_normalized_idx'::regclass"
    )


@pytest.mark.parametrize("phase", [p for p in PHASES if p.reversible], ids=str)
def test_rollback_from_each_reversible_phase_and_forward_again(
    users: Project, phase: Phase
) -> None:
    config = users.config()
    advance(config, MID, to=phase)
    rollback(config, MID, yes=True)
    advance(config, MID, to=phase)
    assert users.state(MID) == phase.value
    advance(config, MID, to=Phase.CONTRACT, yes=True)
    assert users.state(MID) == "contract"
