"""The planner: pure, no database. What runs in a transaction, what in autocommit, what refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandctl.errors import ManifestError, StateError
from expandctl.loader.migrations import load_migration
from expandctl.model.phases import Phase
from expandctl.model.planning import needs_autocommit, plan_phase, sql_steps
from expandctl.model.steps import BackfillStep, ResetBackfillStep, SqlStep


def _migration(tmp_path: Path, manifest: str = "", **files: str):  # type: ignore[no-untyped-def]
    folder = tmp_path / "0001_thing"
    folder.mkdir()
    (folder / "migration.toml").write_text('description = "x"\n' + manifest, encoding="utf-8")
    for name, text in files.items():
        (folder / (name.replace("_down", ".down").replace("_", "-") + ".sql")).write_text(text)
    return load_migration(folder)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX CONCURRENTLY i ON t (a)",
        "create unique index concurrently if not exists i on t (a)",
        "DROP INDEX CONCURRENTLY IF EXISTS i",
        "REINDEX INDEX CONCURRENTLY i",
        "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
        "VACUUM (ANALYZE) t",
        "ALTER SYSTEM SET work_mem = '8MB'",
        "CREATE /* comment */ INDEX\n  CONCURRENTLY i ON t (a)",
    ],
)
def test_statements_that_cannot_run_in_a_transaction(statement: str) -> None:
    assert needs_autocommit(statement, server_version=15)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX i ON t (a)",
        "ALTER TABLE t ADD COLUMN c text",
        "COMMENT ON TABLE t IS 'CREATE INDEX CONCURRENTLY later'",
        "ALTER TYPE mood ADD VALUE 'meh'",
    ],
)
def test_statements_that_run_in_a_transaction(statement: str) -> None:
    assert not needs_autocommit(statement, server_version=15)


def test_enum_add_value_is_autocommit_before_postgres_12() -> None:
    assert needs_autocommit("ALTER TYPE mood ADD VALUE 'meh'", server_version=11)


def test_concurrent_index_steps_know_their_index_name() -> None:
    create, drop = sql_steps(
        'CREATE INDEX CONCURRENTLY "Odd Name" ON t (a);\nDROP INDEX CONCURRENTLY s.old_idx;',
        source="expand.sql",
        server_version=15,
    )
    assert (create.concurrent_index, create.concurrent_action) == ('"Odd Name"', "create")
    assert (drop.concurrent_index, drop.concurrent_action, drop.line) == ("s.old_idx", "drop", 2)


def test_comment_only_file_has_no_steps(tmp_path: Path) -> None:
    m = _migration(tmp_path, expand="-- nothing yet\n/* really */\n")
    plan = plan_phase(m, Phase.EXPAND)
    assert plan.steps == []
    assert "no steps" in plan.notes[0]


def test_steps_keep_file_and_line(tmp_path: Path) -> None:
    m = _migration(
        tmp_path,
        expand="-- header\nCREATE TABLE t (id int);\n\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n",
    )
    steps = plan_phase(m, Phase.EXPAND).steps
    assert [(s.source, s.line, s.autocommit) for s in steps if isinstance(s, SqlStep)] == [
        ("expand.sql", 2, False),
        ("expand.sql", 4, True),
    ]


def test_transaction_control_in_a_phase_file_is_refused(tmp_path: Path) -> None:
    m = _migration(tmp_path, expand="BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n")
    with pytest.raises(ManifestError, match="transaction control") as info:
        plan_phase(m, Phase.EXPAND)
    assert info.value.line == 1


def test_rollback_without_reverse_steps_refuses_instead_of_guessing(tmp_path: Path) -> None:
    m = _migration(tmp_path, expand="CREATE TABLE t (id int);", expand_down="-- todo\n")
    with pytest.raises(
        StateError,
        match=r"no reverse steps for expand of 0001_thing: add statements to expand\.down\.sql"
        r" that undo expand\.sql \(it exists but has no SQL statement",
    ):
        plan_phase(m, Phase.EXPAND, rollback=True)


def test_rollback_of_an_empty_phase_only_changes_state(tmp_path: Path) -> None:
    m = _migration(tmp_path)
    plan = plan_phase(m, Phase.SWITCH_READS, rollback=True)
    assert plan.steps == [] and "only the recorded state" in plan.notes[0]


def test_contract_cannot_be_planned_backwards(tmp_path: Path) -> None:
    m = _migration(tmp_path, contract="DROP TABLE t;")
    with pytest.raises(StateError, match="point of no return"):
        plan_phase(m, Phase.CONTRACT, rollback=True)
    assert plan_phase(m, Phase.CONTRACT).irreversible


def test_backfill_plans_one_step_per_table_and_rollback_keeps_data(tmp_path: Path) -> None:
    manifest = (
        '[[backfill]]\ntable = "a"\nset = { x = "1" }\nwhere = "x IS NULL"\n'
        '[[backfill]]\ntable = "b"\nset = { y = "2" }\nwhere = "y IS NULL"\n'
    )
    m = _migration(tmp_path, manifest)
    forward = plan_phase(m, Phase.BACKFILL).steps
    assert [s.index for s in forward if isinstance(s, BackfillStep)] == [0, 1]
    back = plan_phase(m, Phase.BACKFILL, rollback=True)
    assert isinstance(back.steps[0], ResetBackfillStep)
    assert "keep their values" in back.notes[0]


def test_operations_come_before_the_phase_file(tmp_path: Path) -> None:
    manifest = '[[operations]]\nop = "sql"\nexpand = "CREATE TABLE from_op (id int)"\n'
    m = _migration(tmp_path, manifest, expand="CREATE TABLE from_file (id int);")
    steps = plan_phase(m, Phase.EXPAND).steps
    assert [s.source for s in steps if isinstance(s, SqlStep)] == ["operation 1", "expand.sql"]


def test_gates_are_planned_for_the_phase(tmp_path: Path) -> None:
    manifest = '[gates.contract]\nmin_soak = "1h"\nsql = "SELECT true"\n'
    m = _migration(tmp_path, manifest)
    gates = plan_phase(m, Phase.CONTRACT).gates
    assert [g.summary for g in gates] == [
        "min_soak 1h since switch-writes finished",
        "sql returns true: SELECT true",
    ]
    assert plan_phase(m, Phase.EXPAND).gates == []


def test_a_raw_sql_operation_without_its_down_refuses_rollback(tmp_path: Path) -> None:
    manifest = '[[operations]]\nop = "sql"\nexpand = "CREATE TABLE t (id int)"\n'
    m = _migration(tmp_path, manifest)
    with pytest.raises(StateError, match=r'add "expand\.down" to operation 1'):
        plan_phase(m, Phase.EXPAND, rollback=True)


def test_a_raw_sql_operation_with_its_down_rolls_back(tmp_path: Path) -> None:
    manifest = (
        '[[operations]]\nop = "sql"\nexpand = "CREATE TABLE t (id int)"\n'
        '"expand.down" = "DROP TABLE t"\n'
    )
    m = _migration(tmp_path, manifest)
    steps = plan_phase(m, Phase.EXPAND, rollback=True).steps
    assert [s.sql for s in steps if isinstance(s, SqlStep)] == ["DROP TABLE t"]
