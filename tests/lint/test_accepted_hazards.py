"""Generated SQL carries no suppression comments: an operation states, on its step,
which finding its statement raises by design and why (``SqlStep.accepted``).

The linter counts those as suppressed (never as unused); hand-written SQL, in a
phase file or an ``op = "sql"`` operation, has no way to set them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from expandctl.lint import lint_migration
from expandctl.lint.registry import find_rule
from expandctl.loader.migrations import load_migration
from expandctl.model.phases import PHASES, Phase
from expandctl.model.planning import plan_phase
from expandctl.model.steps import AcceptedHazard, SqlStep, step_checksum

RENAME_TABLE = '[[operations]]\nop = "rename_table"\ntable = "users"\nto = "people"\n'
SET_NOT_NULL = (
    '[[operations]]\nop = "set_not_null"\ntable = "users"\ncolumn = "nickname"\ndefault = "\'\'"\n'
)
RENAME_COLUMN = (
    '[[operations]]\nop = "rename_column"\ntable = "users"\ncolumn = "name"\nto = "full_name"\n'
    'type = "text"\ndefault = "\'\'"\n'
)
# Each operation, the rule its statement trips by design, and the phase it is in.
OPERATIONS = [
    pytest.param(RENAME_TABLE, "C205", Phase.EXPAND, False, id="rename_table"),
    pytest.param(SET_NOT_NULL, "C209", Phase.EXPAND, True, id="set_not_null"),
    pytest.param(RENAME_COLUMN, "C209", Phase.EXPAND, False, id="column_sync"),
]


def _folder(tmp_path: Path, manifest: str, files: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "0001_demo"
    folder.mkdir()
    (folder / "migration.toml").write_text(f'description = "x"\n\n{manifest}', encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _sql_steps(folder: Path) -> list[tuple[Phase, bool, SqlStep]]:
    migration = load_migration(folder)
    found: list[tuple[Phase, bool, SqlStep]] = []
    for phase in PHASES:
        for rollback in (False, True) if phase.reversible else (False,):
            plan = plan_phase(migration, phase, rollback=rollback, server_version=15)
            found += [(phase, rollback, s) for s in plan.steps if isinstance(s, SqlStep)]
    return found


@pytest.mark.parametrize(("manifest", "rule_id", "phase", "rollback"), OPERATIONS)
def test_the_operation_states_its_hazard_on_the_step_not_in_its_sql(
    tmp_path: Path, manifest: str, rule_id: str, phase: Phase, rollback: bool
) -> None:
    steps = _sql_steps(_folder(tmp_path, manifest))
    assert all("expandctl-ignore" not in step.sql for _, _, step in steps)
    accepting = [(p, r) for p, r, step in steps if any(h.rule_id == rule_id for h in step.accepted)]
    assert accepting == [(phase, rollback)]
    for _, _, step in steps:
        for hazard in step.accepted:
            rule = find_rule(hazard.rule_id)
            assert rule is not None and rule.id == hazard.rule_id
            assert hazard.reason.strip()


@pytest.mark.parametrize(("manifest", "rule_id", "phase", "rollback"), OPERATIONS)
def test_the_linter_counts_an_accepted_hazard_as_suppressed(
    tmp_path: Path, manifest: str, rule_id: str, phase: Phase, rollback: bool
) -> None:
    results = lint_migration(load_migration(_folder(tmp_path, manifest)), pg_version=15)
    assert [(r.path, f.rule_id) for r in results for f in r.findings] == []
    (holding,) = [r for r in results if r.phase is phase and r.rollback is rollback]
    assert holding.path.endswith("#operations.expand" + (".down" if rollback else ""))
    assert holding.suppressed == 1


def test_an_accepted_hazard_that_does_not_fire_is_not_reported_unused(tmp_path: Path) -> None:
    """Renaming a table this migration creates trips no C205: the acceptance stays quiet."""
    folder = _folder(
        tmp_path,
        '[[operations]]\nop = "create_table"\ntable = "users"\nprimary_key = ["id"]\n'
        'columns = [{ name = "id", type = "bigint" }]\n\n' + RENAME_TABLE,
    )
    results = lint_migration(load_migration(folder), pg_version=15)
    assert [(r.path, f.rule_id) for r in results for f in r.findings] == []
    assert all(r.suppressed == 0 for r in results)


def test_hand_written_sql_cannot_accept_a_hazard(tmp_path: Path) -> None:
    """The same statement in a phase file and in an op = "sql" is flagged: only operations
    set ``accepted``, and no comment or text turns it on."""
    statement = "ALTER TABLE users RENAME TO people"
    folder = _folder(
        tmp_path,
        f'[[operations]]\nop = "sql"\nexpand = "{statement}"\n"expand.down" = "SELECT 1"\n',
        {
            "expand.sql": f"-- accepted: C205 the view keeps the old name\n{statement};\n",
            "expand.down.sql": "SELECT 1;\n",
        },
    )
    steps = _sql_steps(folder)
    assert [s.accepted for _, _, s in steps if "RENAME TO" in s.sql] == [(), ()]
    results = lint_migration(load_migration(folder), pg_version=15)
    found = [(r.path.rsplit("/", 1)[-1], f.rule_id) for r in results for f in r.findings]
    assert found == [("migration.toml#operations.expand", "C205"), ("expand.sql", "C205")]


def test_a_step_without_accepted_hazards_hashes_as_before() -> None:
    """Interrupted runs recorded step checksums before ``accepted`` existed: they still match."""
    step = SqlStep(sql="ALTER TABLE users ADD COLUMN a text", source="expand.sql", line=3)
    before = (
        '{"kind":"sql","sql":"ALTER TABLE users ADD COLUMN a text","source":"expand.sql",'
        '"autocommit":false,"concurrent_index":null,"concurrent_action":null}'
    )
    assert step_checksum(step) == hashlib.sha256(before.encode()).hexdigest()
    accepting = step.model_copy(update={"accepted": (AcceptedHazard(rule_id="C205", reason="r"),)})
    assert step_checksum(accepting) == step_checksum(step)  # it tells the linter, not PostgreSQL


def test_an_accepted_hazard_names_a_rule_id_and_a_reason() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        AcceptedHazard(rule_id="C205", reason="")
    with pytest.raises(ValidationError):
        AcceptedHazard(rule_id="rename-table", reason="the view keeps the old name")
