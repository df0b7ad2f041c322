"""Fleet gates: contract waits for every target; switch-writes is not undone next to a contract."""

from __future__ import annotations

import threading

import pytest

from expandctl.commands.fleet_run import FleetRunReport, fleet_advance, fleet_rollback
from expandctl.errors import StateError
from expandctl.model.phases import Phase
from tests.fleet.conftest import FleetProject

pytestmark = pytest.mark.db

MIGRATION = "0001_users"


def _states(project: FleetProject) -> dict[str, tuple[str, str]]:
    """target -> (recorded state, what the catalog shows)."""
    return {m.name: (m.state(MIGRATION), m.catalog_state()) for m in project.members}


def test_contract_runs_nowhere_while_one_target_is_behind_unless_it_is_excluded(
    small_fleet: FleetProject,
) -> None:
    fleet = small_fleet.write_fleet()
    config, env = small_fleet.config(), small_fleet.environ
    assert fleet_advance(fleet, config, to=Phase.SWITCH_READS, environ=env).ok
    behind = fleet_advance(fleet, config, to=Phase.SWITCH_WRITES, exclude=["b01"], environ=env)
    assert behind.ok and sorted(behind.moved) == ["a00", "a01", "b00"]

    with pytest.raises(StateError, match=r"runs on no target .*b01 is at switch-reads"):
        fleet_advance(fleet, config, to=Phase.CONTRACT, yes=True, environ=env)
    assert _states(small_fleet) == {
        "a00": ("switch-writes", "expand"),
        "a01": ("switch-writes", "expand"),
        "b00": ("switch-writes", "expand"),
        "b01": ("switch-reads", "expand"),
    }
    with pytest.raises(StateError, match="needs confirmation"):
        fleet_advance(fleet, config, to=Phase.CONTRACT, exclude=["b01"], environ=env)

    excluded_in_file = small_fleet.write_fleet(excluded=frozenset({"b01"}))  # exclude = true
    done = fleet_advance(excluded_in_file, config, to=Phase.CONTRACT, yes=True, environ=env)
    assert done.ok and done.excluded == ["b01"] and sorted(done.moved) == ["a00", "a01", "b00"]
    assert _states(small_fleet) == {
        "a00": ("contract", "contract"),
        "a01": ("contract", "contract"),
        "b00": ("contract", "contract"),
        "b01": ("switch-reads", "expand"),
    }

    # The mirror gate: b01 may not go back below switch-writes while others have contracted.
    with pytest.raises(StateError, match=r"a00 has contracted; a01 has contracted; b00 has"):
        fleet_rollback(fleet, config, MIGRATION, yes=True, environ=env)
    assert small_fleet.member("b01").state(MIGRATION) == "switch-reads"


def test_contract_waits_for_min_soak_and_for_unreachable_targets(
    small_fleet: FleetProject,
) -> None:
    small_fleet.add(
        "0002_soaked",
        manifest='[gates.contract]\nmin_soak = "1h"\n',
        expand="CREATE TABLE soaked (id int);",
    )
    fleet = small_fleet.write_fleet()
    config, env = small_fleet.config(), small_fleet.environ
    assert fleet_advance(fleet, config, "0002_soaked", to=Phase.SWITCH_WRITES, environ=env).ok
    with pytest.raises(
        StateError, match=r"a00 finished switch-writes 0s ago; contract needs min_soak 1h"
    ):
        fleet_advance(fleet, config, "0002_soaked", to=Phase.CONTRACT, yes=True, environ=env)

    lost = {k: v for k, v in env.items() if "B01" not in k}
    with pytest.raises(StateError, match=r"b01 is unreachable \(environment variable"):
        fleet_advance(fleet, config, "0002_soaked", to=Phase.CONTRACT, yes=True, environ=lost)
    assert {m.state("0002_soaked") for m in small_fleet.members} == {"switch-writes"}


def test_fleet_rollback_takes_the_most_advanced_targets_one_phase_back(
    small_fleet: FleetProject,
) -> None:
    fleet = small_fleet.write_fleet()
    config, env = small_fleet.config(), small_fleet.environ
    assert fleet_advance(fleet, config, to=Phase.EXPAND, environ=env).ok
    assert fleet_advance(fleet, config, to=Phase.SWITCH_READS, exclude=["a01"], environ=env).ok
    with pytest.raises(StateError, match="needs confirmation"):
        fleet_rollback(fleet, config, MIGRATION, environ=env)
    assert small_fleet.member("a00").state(MIGRATION) == "switch-reads"

    back = fleet_rollback(fleet, config, MIGRATION, yes=True, environ=env)
    assert back.ok and back.goal is not None and back.goal.value == "backfill"
    assert sorted(back.moved) == ["a00", "b00", "b01"]
    outcome = {t.target: t for w in back.waves for t in w.targets}
    assert outcome["a01"].outcome == "already" and outcome["a00"].phases == [Phase.SWITCH_READS]
    assert {m.name: m.state(MIGRATION) for m in small_fleet.members} == {
        "a00": "backfill",
        "a01": "expand",
        "b00": "backfill",
        "b01": "backfill",
    }


def test_two_fleet_rollbacks_at_once_undo_each_phase_once(small_fleet: FleetProject) -> None:
    fleet = small_fleet.write_fleet()
    config, env = small_fleet.config(), small_fleet.environ
    assert fleet_advance(fleet, config, to=Phase.SWITCH_READS, environ=env).ok
    reports: list[FleetRunReport] = []
    start = threading.Barrier(2)

    def fleet_run() -> None:
        start.wait()
        reports.append(fleet_rollback(fleet, config, MIGRATION, yes=True, environ=env))

    threads = [threading.Thread(target=fleet_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2 and all(r.ok for r in reports), [r.failed for r in reports]
    assert sorted(reports[0].moved + reports[1].moved) == ["a00", "a01", "b00", "b01"]
    for member in small_fleet.members:
        assert member.state(MIGRATION) == "backfill"
        assert (member.name, member.phase_runs("switch-reads", "rollback")) == (member.name, 1)
