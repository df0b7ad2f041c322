"""Lint before execution: a phase with error-level findings does not run without a reason.

Everything goes through the real CLI against PostgreSQL: ``advance`` and
``rollback`` refuse (exit 4) and print the findings as ``lint`` does, nothing
of the phase runs, ``--accept-risk`` runs it and ``history`` shows the reason,
and ``plan`` refuses exactly when ``advance`` would.
"""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import Project

pytestmark = pytest.mark.db

USERS = "CREATE TABLE users (id int PRIMARY KEY, email text, nick text)"
# Both are errors on a table that already exists: a full scan under ACCESS
# EXCLUSIVE, and an index build that blocks every write.
HAZARDS = (
    "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
    "CREATE INDEX users_email_idx ON users (email);\n"
)


def _catalog(project: Project) -> tuple[object, object]:
    nullable = project.one(
        "SELECT is_nullable FROM information_schema.columns "
        "WHERE table_name = 'users' AND column_name = 'email'"
    )
    return nullable, project.one("SELECT to_regclass('users_email_idx')")


def test_advance_refuses_a_phase_with_lint_errors_and_runs_none_of_it(project: Project) -> None:
    project.query(USERS)
    project.add("0001_harden", expand=HAZARDS)
    result = project.cli("advance", "0001_harden")
    assert result.exit_code == 4, result.output
    # the findings, as 'expandctl lint' prints them, then the one-line refusal
    assert "error L" in result.output and "set-not-null" in result.output
    assert "create-index-non-concurrently" in result.output
    assert "expand.sql:2:1" in result.output and "  safe: " in result.output
    assert "2 error-level lint findings" in result.output and "--accept-risk" in result.output
    assert _catalog(project) == ("YES", None)  # nothing ran
    assert project.state("0001_harden") is None  # not even started
    refused = project.query("SELECT action, outcome FROM expandctl.events")
    assert refused == [("advance", "refused")]

    as_json = project.cli("advance", "0001_harden", "--format", "json")
    assert as_json.exit_code == 4
    data = json.loads(as_json.output[: as_json.output.rindex("}") + 1])
    assert {f["rule_name"] for f in data["findings"]} >= {"create-index-non-concurrently"}


def test_plan_shows_the_same_findings_and_exits_as_advance_would(project: Project) -> None:
    project.query(USERS)
    project.add("0001_harden", expand=HAZARDS)
    shown = project.cli("plan", "0001_harden")
    assert shown.exit_code == 4, shown.output
    assert "lint findings of these steps:" in shown.output
    assert "create-index-non-concurrently" in shown.output and "refused: " in shown.output
    data = json.loads(project.cli("plan", "0001_harden", "--format", "json").output)
    assert len([f for f in data["findings"] if f["severity"] == "error"]) == 2
    assert any("set-not-null" in r for r in data["refusals"])
    offline = project.cli("plan", "0001_harden", "--phase", "expand")  # files only
    assert offline.exit_code == 4 and "planned from files only" in offline.output
    assert "create-index-non-concurrently" in offline.output
    assert _catalog(project) == ("YES", None)


def test_accept_risk_runs_the_phase_and_history_records_why(project: Project) -> None:
    project.query(USERS)
    project.add("0001_harden", expand=HAZARDS)
    result = project.cli("advance", "0001_harden", "--accept-risk", "users has 12 rows")
    assert result.exit_code == 0, result.output
    assert _catalog(project) == ("NO", "users_email_idx")
    assert project.state("0001_harden") == "expand"
    history = project.cli("history", "0001_harden")
    line = next(x for x in history.output.splitlines() if "accept-risk" in x)
    assert "accepted" in line and "users has 12 rows" in line
    assert "L" in line.split("accepted", 2)[2]  # the accepted rule ids
    rules = project.one("SELECT detail FROM expandctl.events WHERE action = 'accept-risk'")
    assert rules.startswith("accepted L") and rules.count("L") >= 2


def test_accept_risk_needs_a_reason_and_one_phase(project: Project) -> None:
    project.query(USERS)
    project.add("0001_harden", expand=HAZARDS)
    assert project.cli("advance", "0001_harden", "--accept-risk", " ").exit_code == 2
    assert project.cli("advance", "--all", "--accept-risk", "why").exit_code == 2
    assert _catalog(project) == ("YES", None)


def test_an_in_file_suppression_with_a_reason_lets_it_run(project: Project) -> None:
    project.query(USERS)
    project.add(
        "0001_index",
        expand="-- expandctl-ignore: create-index-non-concurrently users has 12 rows\n"
        "CREATE INDEX users_email_idx ON users (email);\n",
    )
    assert project.cli("plan", "0001_index").exit_code == 0
    assert project.cli("advance", "0001_index").exit_code == 0
    assert _catalog(project)[1] == "users_email_idx"


def test_rollback_refuses_reverse_steps_with_lint_errors(project: Project) -> None:
    project.query(USERS)
    project.add(
        "0001_age",
        expand="ALTER TABLE users ADD COLUMN age int;\n",
        expand_down="CREATE INDEX users_email_idx ON users (email);\n"
        "ALTER TABLE users DROP COLUMN age;\n",
    )
    assert project.cli("advance", "0001_age").exit_code == 0
    result = project.cli("rollback", "0001_age", "--yes")
    assert result.exit_code == 4, result.output
    assert "create-index-non-concurrently" in result.output
    assert "expand.down.sql:1:1" in result.output
    assert project.state("0001_age") == "expand"
    assert project.one("SELECT count(*) FROM information_schema.columns WHERE column_name = 'age'")
    assert _catalog(project)[1] is None
    shown = project.cli("plan", "0001_age", "--rollback")
    assert shown.exit_code == 4 and "create-index-non-concurrently" in shown.output

    ok = project.cli("rollback", "0001_age", "--yes", "--accept-risk", "rebuilt tonight")
    assert ok.exit_code == 0, ok.output
    assert project.state("0001_age") == "pending"
    history = project.cli("history", "0001_age").output
    assert "accept-risk accepted" in history and "rebuilt tonight" in history


def test_plan_exits_4_when_a_gate_would_refuse_and_runs_sql_gates_read_only(
    project: Project,
) -> None:
    project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);\n",
        manifest='[gates.backfill]\nmin_soak = "1h"\n'
        "[gates.expand]\nsql = \"SELECT count(*) = 0 FROM pg_class WHERE relname = 'stop'\"\n",
    )
    assert project.cli("plan", "0001_t").exit_code == 0
    project.query("CREATE TABLE stop (id int)")
    gated = project.cli("plan", "0001_t")
    assert gated.exit_code == 4 and "not yet: the query returned False" in gated.output
    assert project.cli("advance", "0001_t").exit_code == 4
    project.query("DROP TABLE stop")
    assert project.cli("advance", "0001_t").exit_code == 0
    soak = project.cli("plan", "0001_t")  # before: exit 0 although advance refused
    assert soak.exit_code == 4 and "gate min_soak" in soak.output
