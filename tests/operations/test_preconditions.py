"""Operation preconditions as CheckSteps: evaluated read-only all at once, and in the group.

A failed precondition is a refusal (exit 4) with the check's own message and
hint; every failing check is reported together; nothing is changed. A check
evaluated ahead of time never writes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from expandctl.commands.advance import advance, load_set, require_migration
from expandctl.commands.plan import describe
from expandctl.engine.checks import evaluate_checks, run_check
from expandctl.errors import CheckFailed
from expandctl.model.phases import PHASES, Phase
from expandctl.model.planning import plan_phase
from expandctl.model.steps import CheckStep, Direction, PhasePlan, SqlStep, step_checksum
from tests.conftest import PgDatabase
from tests.engine.conftest import Project
from tests.operations import sample_ops as sample
from tests.operations.schema import create_schema
from tests.operations.support import (
    MIGRATION_ID,
    Raw,
    operation_project,
    parse,
    plan,
    query,
    snapshot,
)
from tests.operations.test_forward_rollback import CASES, Case

RENAME_GHOST: Raw = {**sample.RENAME_NAME, "column": "ghost", "to": "spirit"}
ADD_EXISTING: Raw = {**sample.ADD_STATUS, "column": "age"}
TEAMS_INDEX: Raw = {
    "op": "create_index",
    "table": "teams",
    "name": "teams_name_idx",
    "columns": ["name"],
}


def state(dsn: str) -> list[tuple[object, ...]]:
    return query(dsn, "SELECT state FROM expandctl.migrations WHERE id = %s", MIGRATION_ID)


# --- planning: checks are typed steps, never DO blocks ---


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_operations_plan_check_steps_not_do_blocks(case: Case) -> None:
    ops = [parse(raw) for raw in case.ops]
    for phase in PHASES:
        for rollback in (False, True):
            for step in plan(ops, phase, rollback=rollback):
                if isinstance(step, SqlStep):
                    assert not re.match(r"(?is)\s*(--[^\n]*\n\s*)*do\b", step.sql), step.sql
                    assert "expandctl-ignore: U502" not in step.sql


def test_a_checked_operation_starts_expand_with_its_check_steps() -> None:
    steps = plan([parse(sample.RENAME_NAME)], Phase.EXPAND)
    checks = [s for s in steps if isinstance(s, CheckStep)]
    assert checks and steps[: len(checks)] == checks
    assert {c.source for c in checks} == {"operation 1"}
    assert all(not c.autocommit for c in checks)
    assert "column users.name does not exist" in [c.message for c in checks]


def test_step_checksum_covers_a_check_step() -> None:
    step = CheckStep(sql="SELECT true", message="m", hint="h", source="operation 1")
    assert step_checksum(step) == step_checksum(step.model_copy())
    for change in ({"sql": "SELECT false"}, {"message": "n"}, {"hint": None}):
        assert step_checksum(step.model_copy(update=change)) != step_checksum(step)


def test_plan_describes_a_check_step() -> None:
    step = CheckStep(sql="SELECT\n true", message="it is wrong", source="operation 1")
    plan_ = PhasePlan(migration_id=MIGRATION_ID, phase=Phase.EXPAND, direction=Direction.FORWARD)
    [shown] = describe(plan_.model_copy(update={"steps": [step]}))
    assert (shown.kind, shown.mode) == ("check", "transaction")
    assert shown.text == "check: SELECT true -- else refuse: it is wrong"


# --- advance: a failed precondition refuses, with every failure, and changes nothing ---


@pytest.mark.db
def test_one_failed_precondition_refuses_with_its_message_and_hint(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    create_schema(pg_database.dsn)
    config = operation_project(tmp_path, pg_database, [ADD_EXISTING])
    before = snapshot(pg_database.dsn)
    with pytest.raises(CheckFailed) as refused:
        advance(config, MIGRATION_ID, yes=True)
    assert refused.value.exit_code == 4
    assert refused.value.message == (
        f"expand of {MIGRATION_ID} refused: column users.age already exists [operation 1]"
    )
    assert refused.value.hint == "pick another name for the new column; nothing was changed"
    assert "CONTEXT" not in str(refused.value) and "PL/pgSQL" not in str(refused.value)
    assert snapshot(pg_database.dsn) == before
    assert state(pg_database.dsn) in ([], [("pending",)])


@pytest.mark.db
def test_every_failed_precondition_is_reported_together_and_exit_is_4(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    create_schema(pg_database.dsn)
    operation_project(tmp_path, pg_database, [RENAME_GHOST, ADD_EXISTING])
    project = Project(root=tmp_path, db=pg_database, overrides={})
    before = snapshot(pg_database.dsn)
    result = project.cli("advance", MIGRATION_ID)
    assert result.exit_code == 4, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1  # one line, naming both
    assert "column users.ghost does not exist [operation 1, step" in lines[0]
    assert "check the column name" in lines[0]
    assert "column users.age already exists [operation 2, step" in lines[0]
    assert "pick another name for the new column" in lines[0]
    assert snapshot(pg_database.dsn) == before
    assert state(pg_database.dsn) in ([], [("pending",)])


@pytest.mark.db
def test_a_check_that_holds_lets_expand_run(pg_database: PgDatabase, tmp_path: Path) -> None:
    create_schema(pg_database.dsn)
    config = operation_project(tmp_path, pg_database, [sample.ADD_STATUS])
    advance(config, MIGRATION_ID, yes=True)
    assert state(pg_database.dsn) == [("expand",)]
    assert query(pg_database.dsn, "SELECT count(*) FROM users WHERE status IS NULL") == [(300,)]


@pytest.mark.db
def test_a_check_an_earlier_step_satisfies_does_not_refuse(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    """create_table then create_index on it: judged before expand, the index's
    'table exists' fails, but the table's own step runs first, so expand goes on."""
    create_schema(pg_database.dsn)
    ops = [sample.CREATE_TEAMS, TEAMS_INDEX]
    config = operation_project(tmp_path, pg_database, ops)
    steps = plan([parse(raw) for raw in ops], Phase.EXPAND)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        failures = evaluate_checks(conn, steps)
    assert [f.message for f in failures] == [
        "table teams does not exist",
        "column teams.name does not exist",
    ]
    assert not any(f.definite for f in failures)
    assert "unless an earlier step of this phase changes that" in failures[0].text
    advance(config, MIGRATION_ID, yes=True)
    assert query(pg_database.dsn, "SELECT to_regclass('teams_name_idx')::text") == [
        ("teams_name_idx",)
    ]


@pytest.mark.db
def test_a_check_failing_inside_the_group_rolls_the_group_back(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    """The second create_table's 'teams is absent' holds before expand and fails in
    the group, after the first created it: the refusal undoes the whole group."""
    create_schema(pg_database.dsn)
    config = operation_project(tmp_path, pg_database, [sample.CREATE_TEAMS, sample.CREATE_TEAMS])
    before = snapshot(pg_database.dsn)
    with pytest.raises(CheckFailed, match=re.escape("[operation 2]: table teams already exists")):
        advance(config, MIGRATION_ID, yes=True)
    assert snapshot(pg_database.dsn) == before
    assert query(pg_database.dsn, "SELECT to_regclass('teams')") == [(None,)]


@pytest.mark.db
def test_run_check_refuses_on_false_and_on_null(pg_database: PgDatabase) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        run_check(conn, CheckStep(sql="SELECT true", message="m", source="operation 1"))
        for value in ("false", "NULL::boolean"):
            step = CheckStep(sql=f"SELECT {value}", message="it is off", source="operation 3")
            with pytest.raises(CheckFailed, match=re.escape("[operation 3]: it is off")):
                run_check(conn, step)


# --- evaluate_checks: all at once, read-only ---


@pytest.mark.db
def test_evaluate_checks_reports_every_failure_of_the_phase(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    create_schema(pg_database.dsn)
    config = operation_project(tmp_path, pg_database, [RENAME_GHOST, ADD_EXISTING])
    migration = require_migration(load_set(config), MIGRATION_ID)
    phase_plan = plan_phase(migration, Phase.EXPAND, server_version=15)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        failures = evaluate_checks(conn, phase_plan.steps)
    assert [(f.source, f.message) for f in failures] == [
        ("operation 1", "column users.ghost does not exist"),
        ("operation 2", "column users.age already exists"),
    ]
    assert [f.definite for f in failures] == [True, False]
    numbers = [n + 1 for n, s in enumerate(phase_plan.steps) if isinstance(s, CheckStep)]
    assert {f.step for f in failures} <= set(numbers)


WRITES = [
    "SELECT (SELECT nextval('counter')) > 0",
    "SELECT write_something()",
    "SELECT EXISTS (SELECT 1 FROM pg_class) AND write_something()",
]


@pytest.mark.db
def test_evaluate_checks_never_writes(pg_database: PgDatabase) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE scribbles (n int); CREATE SEQUENCE counter;"
            " CREATE FUNCTION write_something() RETURNS boolean LANGUAGE sql"
            " AS 'INSERT INTO scribbles VALUES (1) RETURNING true'"
        )
        before = snapshot(pg_database.dsn)
        steps = [
            CheckStep(sql=text, message=f"w{n}", source="operation 1")
            for n, text in enumerate(WRITES)
        ]
        failures = evaluate_checks(
            conn, [*steps, CheckStep(sql="SELECT true", message="ok", source="operation 2")]
        )
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) FROM scribbles").fetchone() == (0,)
        assert conn.execute("SELECT last_value, is_called FROM counter").fetchone() == (1, False)
    assert [f.message for f in failures] == ["w0", "w1", "w2"]
    assert all(f.error and "read-only transaction" in f.error for f in failures)
    assert not any(f.definite for f in failures)
    assert snapshot(pg_database.dsn) == before


@pytest.mark.db
def test_evaluate_checks_gives_up_on_a_slow_check(pg_database: PgDatabase) -> None:
    slow = CheckStep(sql="SELECT pg_sleep(5) IS NULL", message="slow", source="operation 1")
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        [failure] = evaluate_checks(conn, [slow], statement_timeout=timedelta(milliseconds=100))
    assert failure.error is not None and "statement timeout" in failure.error
