"""``advance --all`` that stops early lists what ran and says why, in text and JSON."""

from __future__ import annotations

import json

import pytest

from expandctl.commands.advance import advance
from expandctl.model.phases import Phase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db


def _three(project: Project, second_expand: str) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    project.add("0002_b", expand=second_expand)
    project.add("0003_c", expand="CREATE TABLE c (id int);")


def test_all_stops_at_a_refusal_and_lists_the_phases_it_ran(project: Project) -> None:
    project.query("CREATE TABLE users (id int PRIMARY KEY, email text)")
    _three(project, "CREATE INDEX users_email_idx ON users (email);\n")
    text = project.cli("advance", "--all")
    assert text.exit_code == 4, text.output
    assert "0001_a: expand done" in text.output
    assert "stopped at 0002_b (refused) after 1 phase: " in text.output
    assert "create-index-non-concurrently" in text.output  # the findings, as lint shows them
    assert (project.state("0001_a"), project.state("0002_b"), project.state("0003_c")) == (
        "expand",
        None,
        None,
    )
    project.query("DROP TABLE a")
    project.query("TRUNCATE expandctl.migrations")
    as_json = project.cli("advance", "--all", "--format", "json")
    assert as_json.exit_code == 4
    data = json.loads(as_json.output)
    assert [(r["migration_id"], r["phase"]) for r in data["runs"]] == [("0001_a", "expand")]
    stopped = data["stopped"]
    assert (stopped["reason"], stopped["migration_id"], stopped["exit_code"]) == (
        "refused",
        "0002_b",
        4,
    )
    assert stopped["findings"][0]["rule_name"] == "create-index-non-concurrently"
    assert "error-level lint finding" in stopped["message"] and stopped["hint"]


def test_all_stops_cleanly_at_a_contract_that_needs_confirmation(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    # a contract that runs a step (an empty one destroys nothing and is not asked about)
    project.add("0002_b", expand="CREATE TABLE b (id int);", contract="SELECT 1;")
    advance(project.config(), "0002_b", to=Phase.SWITCH_WRITES)
    text = project.cli("advance", "--all")  # no terminal, no --yes
    assert text.exit_code == 4, text.output
    assert "Traceback" not in text.output
    assert "0001_a: expand done" in text.output
    assert "stopped at 0002_b (needs-confirmation) after 1 phase" in text.output
    assert "pass --yes" in text.output
    assert project.state("0002_b") == "switch-writes"

    report = advance(project.config(), all_migrations=True)  # the Python API says so too
    assert [r.migration_id for r in report.runs] == ["0001_a"]
    assert report.stopped is not None and report.stopped.reason == "needs-confirmation"
    data = json.loads(project.cli("advance", "--all", "--format", "json").output)
    assert data["stopped"]["reason"] == "needs-confirmation" and data["runs"][0]["phase"] == (
        "switch-reads"
    )


def test_all_to_stops_at_a_failure_with_the_phases_it_ran(project: Project) -> None:
    project.add(
        "0001_a",
        expand="CREATE TABLE a (id int);",
        switch_reads="SELECT 1 / 0;",
    )
    result = project.cli("advance", "--all", "--to", "switch-writes", "--format", "json")
    assert result.exit_code == 3, result.output
    data = json.loads(result.output)
    assert [r["phase"] for r in data["runs"]] == ["expand", "backfill"]
    assert data["stopped"]["reason"] == "failed"
    assert "division by zero" in data["stopped"]["message"]
    assert project.state("0001_a") == "backfill"
