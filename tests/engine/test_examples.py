"""The example migrations in migrations/: all five phases, and rollback from each reversible one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from expandctl.commands.advance import advance, load_set
from expandctl.commands.rollback import rollback
from expandctl.commands.status import status
from expandctl.model.config import ResolvedConfig
from expandctl.model.phases import PHASES, Phase, State
from tests.conftest import PROJECT_ROOT, PgDatabase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

REVERSIBLE = [p for p in PHASES if p.reversible]


@pytest.fixture
def examples(tmp_path: Path, pg_database: PgDatabase) -> Project:
    project = Project(root=tmp_path, db=pg_database, overrides={})
    project.overrides["migrations_dir"] = str(PROJECT_ROOT / "migrations")
    return project


def _public_schema(project: Project) -> list[Any]:
    return project.query(
        "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = 'public' ORDER BY 1, 3"
    )


def test_examples_advance_through_all_five_phases(examples: Project) -> None:
    config: ResolvedConfig = examples.config()
    ids = load_set(config).ids
    assert ids, "migrations/ holds the examples"
    for phase in PHASES:
        advance(config, all_migrations=True, yes=True)
        assert {m.id: m.state for m in status(config).migrations} == {
            i: State(phase.value) for i in ids
        }
    assert all(m.next_action == "complete" for m in status(config).migrations)


@pytest.mark.parametrize("phase", REVERSIBLE, ids=[p.value for p in REVERSIBLE])
def test_examples_roll_back_from_every_reversible_phase(examples: Project, phase: Phase) -> None:
    config = examples.config()
    ids = load_set(config).ids
    for mid in ids:
        advance(config, mid, to=phase)
    before = _public_schema(examples)
    for mid in reversed(ids):  # dependents first
        rollback(config, mid, yes=True)
        assert examples.state(mid) == State.after(phase.previous).value
    if phase is Phase.EXPAND:
        assert _public_schema(examples) == []
    for mid in ids:
        advance(config, mid, to=phase)
    assert _public_schema(examples) == before
