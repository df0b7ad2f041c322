"""fleet advance on 22 real databases across two servers: waves, failure, resume, races."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from expandctl.commands.advance import advance
from expandctl.commands.fleet_run import FleetRunReport, fleet_advance
from expandctl.commands.fleet_status import fleet_status
from expandctl.commands.fleet_targets import target_config
from expandctl.model.fleet import Wave
from expandctl.model.phases import Phase
from tests.fleet.conftest import FleetProject, Member

pytestmark = pytest.mark.db

WAVES = """
[[waves]]
name = "canary"
count = 1
parallelism = 1

[[waves]]
name = "second"
labels = ["second"]
parallelism = 4

[[waves]]
name = "rest"
parallelism = 4
"""


def _allow_connections(member: Member, allow: bool) -> None:
    with psycopg.connect(member.server.admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(member.dbname), sql.SQL("true" if allow else "false")
            )
        )


def _one_embedded(project: FleetProject) -> bool:
    """Only when the tests' main server is itself the embedded one is there a single server."""
    return all(m.server.backend == "embedded" for m in project.members)


def _outcomes(report: FleetRunReport) -> dict[str, str]:
    return {t.target: t.outcome for w in report.waves for t in w.targets}


def test_a_target_lost_mid_wave_stops_the_run_and_a_rerun_completes(
    big_fleet: FleetProject,
) -> None:
    fleet = big_fleet.write_fleet(WAVES)
    assert [len(w.targets) for w in fleet.waves] == [1, 10, 11]
    servers = {m.server.admin_dsn for m in big_fleet.members}
    assert len(big_fleet.members) == 22 and (len(servers) == 2 or _one_embedded(big_fleet))
    victim = big_fleet.member("b03")

    def lose_victim_after_canary(wave: Wave) -> None:
        if wave.name == "second":
            _allow_connections(victim, False)

    first = fleet_advance(
        fleet,
        big_fleet.config(),
        to=Phase.EXPAND,
        environ=big_fleet.environ,
        before_wave=lose_victim_after_canary,
    )
    outcomes = _outcomes(first)
    assert first.stopped_at == "second"
    assert first.failed == ["b03"]
    failure = next(t for w in first.waves for t in w.targets if t.target == "b03")
    assert failure.error is not None and "not currently accepting connections" in failure.error
    assert outcomes["a00"] == "moved"  # the canary
    assert all(outcomes[f"a{i:02d}"] == "not-started" for i in range(1, 12))  # later wave
    assert set(first.moved) | set(first.failed) | set(first.not_started) == set(outcomes)
    # Every reachable target is consistent: what the run says == state == catalog.
    for member in big_fleet.members:
        if member is victim:
            continue
        expected = "expand" if outcomes[member.name] == "moved" else "pending"
        assert (member.name, member.state("0001_users")) == (member.name, expected)
        assert (member.name, member.catalog_state()) == (member.name, expected)

    _allow_connections(victim, True)
    assert victim.state("0001_users") == "pending" and victim.catalog_state() == "pending"
    status = fleet_status(fleet, big_fleet.config(), environ=big_fleet.environ)
    assert status.unreachable == [] and status.split == ["0001_users"]

    second = fleet_advance(fleet, big_fleet.config(), environ=big_fleet.environ)
    assert second.ok and second.goal is not None and second.goal.value == "expand"
    assert set(second.moved) == set(outcomes) - set(first.moved)
    assert all(_outcomes(second)[name] == "already" for name in first.moved)
    for member in big_fleet.members:
        assert (member.name, member.state("0001_users"), member.catalog_state()) == (
            member.name,
            "expand",
            "expand",
        )
        assert member.phase_runs("expand") == 1
    assert fleet_status(fleet, big_fleet.config(), environ=big_fleet.environ).split == []


def test_two_fleet_runs_and_a_single_run_at_once_apply_each_phase_once(
    big_fleet: FleetProject,
) -> None:
    fleet = big_fleet.write_fleet(WAVES)
    config = big_fleet.config()
    reports: list[FleetRunReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def fleet_run() -> None:
        start.wait()
        try:
            reports.append(
                fleet_advance(fleet, config, to=Phase.BACKFILL, environ=big_fleet.environ)
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def single_run() -> None:
        target = fleet.target("b05")
        assert target is not None
        start.wait()
        try:
            advance(
                target_config(config, target, big_fleet.environ), "0001_users", to=Phase.BACKFILL
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fleet_run) for _ in range(2)]
    threads.append(threading.Thread(target=single_run))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(reports) == 2
    assert all(r.ok for r in reports), [r.failed for r in reports]
    one, other = (set(r.moved) for r in reports)
    assert one | other <= {m.name for m in big_fleet.members}
    for member in big_fleet.members:
        assert member.state("0001_users") == "backfill"
        assert (member.name, member.phase_runs("expand"), member.phase_runs("backfill")) == (
            member.name,
            1,
            1,
        )
    # No target is claimed by both runs: each phase ran once, under one run's lock.
    movers = {
        name: [i for i, r in enumerate(reports) if name in r.moved]
        for name in (m.name for m in big_fleet.members)
    }
    assert all(len(who) <= 1 for who in movers.values()), movers
    assert all(who for name, who in movers.items() if name != "b05"), movers
