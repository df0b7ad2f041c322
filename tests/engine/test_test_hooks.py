"""The crash tests' pause hooks do nothing unless armed, and say so loudly either way."""

from __future__ import annotations

import pytest

from expandctl.commands.advance import advance
from expandctl.engine import runner
from tests.engine.conftest import Project

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def fresh_warning_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which stray hooks this process already warned about."""
    monkeypatch.setattr(runner, "_unarmed_warned", set())


def test_a_stray_pause_variable_is_ignored_with_a_warning_naming_it(
    project: Project, monkeypatch: pytest.MonkeyPatch, warnings: list[str]
) -> None:
    monkeypatch.delenv(runner.HOOKS_ARMED_ENV, raising=False)
    monkeypatch.setenv(runner.PAUSE_ENV, "1")
    monkeypatch.setenv(runner.PAUSE_SECONDS_ENV, "3600")  # would hang the test if it slept
    project.add("0001_t", expand="CREATE TABLE t (id int);\nCREATE TABLE u (id int);\n")
    advance(project.config())
    assert project.state("0001_t") == "expand"
    ignored = [line for line in warnings if line.startswith(f"ignoring {runner.PAUSE_ENV}")]
    assert len(ignored) == 1  # once, not at every step boundary
    assert f"{runner.HOOKS_ARMED_ENV}=1 is not set" in ignored[0]
    assert not any("expandctl test pause" in line for line in warnings)


def test_an_armed_pause_sleeps_with_a_warning_naming_the_variables(
    project: Project, monkeypatch: pytest.MonkeyPatch, warnings: list[str]
) -> None:
    monkeypatch.setenv(runner.HOOKS_ARMED_ENV, "1")
    monkeypatch.setenv(runner.PAUSE_BEFORE_RECORD_ENV, "2")
    monkeypatch.setenv(runner.PAUSE_SECONDS_ENV, "0")
    project.add("0001_t", expand="CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY ON t (id);\n")
    advance(project.config())
    assert project.state("0001_t") == "expand"
    assert warnings == [  # once: only after the autocommit step 2 ran
        f"expandctl test pause: {runner.PAUSE_BEFORE_RECORD_ENV}=2 (armed by "
        f"{runner.HOOKS_ARMED_ENV}=1): sleeping 0s holding the migration lock; "
        "never set these outside tests"
    ]
