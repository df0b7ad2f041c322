"""Failed catalog checks and interference findings refuse the phase like any refusal.

``_live_blockers`` returns none until the lead wires wave1-checks and
wave1-interfere; this pins down what happens once it returns some.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from expandctl.commands.phase import derive_phase, refuse
from expandctl.errors import HazardRefused, StateError
from expandctl.loader.migrations import load_migrations
from expandctl.model.config import Settings
from expandctl.model.phases import Phase
from expandctl.model.steps import Direction
from tests.engine.conftest import Project


@dataclass(frozen=True)
class Failure:
    message: str
    hint: str | None
    source: str = "operation 1"


def test_check_failures_and_interference_are_refusals(project: Project) -> None:
    project.add("0001_t", contract="DROP TABLE IF EXISTS t_old;\n")
    migrations = load_migrations(project.migrations)
    view = derive_phase(
        None,
        migrations.migrations[0],
        migrations,
        {},
        Direction.FORWARD,
        settings=Settings(),
        phase=Phase.EXPAND,
    )
    assert view.refusals == []
    refuse(view)  # nothing to refuse
    view.check_failures = [Failure("users.email has NULLs", "backfill first")]
    view.interference = [Failure("0003's trigger reads users.email", "contract 0003 first")]
    assert [(r.kind, r.message, r.hint) for r in view.refusals] == [
        ("check", "users.email has NULLs", "backfill first"),
        ("interference", "0003's trigger reads users.email", "contract 0003 first"),
    ]
    with pytest.raises(StateError, match=r"users.email has NULLs \(and 1 more\)") as info:
        refuse(view)
    assert info.value.hint == "backfill first" and not isinstance(info.value, HazardRefused)
