"""fleet status (the matrix and its troubles) and the failure policies, on real databases."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandctl.cli.app import cli
from expandctl.commands.advance import advance
from expandctl.commands.fleet_run import fleet_advance
from expandctl.commands.fleet_status import fleet_status
from expandctl.commands.fleet_targets import target_config
from expandctl.errors import DatabaseError
from expandctl.model.phases import Phase
from tests.fleet.conftest import FleetProject

pytestmark = pytest.mark.db

PASSWORD = "s3cret-fleet-pw"
GHOST = """
[[targets]]
name = "ghost"
url_env = "FLEET_TEST_GHOST_URL"
"""
# Fails on a target whose flag table is empty: a phase stopped half-way.
BREAKS = "CREATE TABLE d (id int);\nSELECT 1 / count(*) FROM flag;\n"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_status_shows_split_drift_interrupted_missing_and_unreachable_without_passwords(
    small_fleet: FleetProject, tmp_path: Path
) -> None:
    project, config = small_fleet, small_fleet.config()
    project.environ["FLEET_TEST_GHOST_URL"] = (
        f"postgresql://app:{PASSWORD}@127.0.0.1:{_closed_port()}/ghost"
    )
    fleet = project.write_fleet(extra_targets=GHOST)
    assert fleet_advance(
        fleet, config, to=Phase.EXPAND, exclude=["ghost"], environ=project.environ
    ).ok
    project.add("0002_breaks", expand=BREAKS)
    for member in project.members:
        member.query("CREATE TABLE flag (id int)")
        if member.name != "a01":
            member.query("INSERT INTO flag VALUES (1)")
    a01 = target_config(config, fleet.target("a01"), project.environ)  # type: ignore[arg-type]
    with pytest.raises(DatabaseError, match="division by zero"):
        advance(a01, "0002_breaks")
    (project.migrations / "0001_users" / "expand.sql").write_text("CREATE TABLE users (id int);")
    gone = tmp_path / "other"
    (gone / "migrations" / "0009_gone").mkdir(parents=True)
    (gone / "migrations" / "0009_gone" / "migration.toml").write_text('description = "x"\n')
    # The other project knows 0001 too: an in-flight migration missing on disk stops advance.
    shutil.copytree(project.migrations / "0001_users", gone / "migrations" / "0001_users")
    b00 = target_config(config, fleet.target("b00"), project.environ)  # type: ignore[arg-type]
    # Contracted, so it is only MISSING here: a missing in-flight one would stop advance.
    other = b00.model_copy(update={"project_root": str(gone)})
    advance(other, "0009_gone", to=Phase.CONTRACT, yes=True)

    report = fleet_status(fleet, config, environ=project.environ)
    rows = {t.name: t for t in report.targets}
    assert report.unreachable == ["ghost"]
    assert rows["ghost"].error and "Connection refused" in rows["ghost"].error
    assert report.interrupted == ["a01:0002_breaks"]
    assert sorted(report.drifted) == [
        "a00:0001_users",
        "a01:0001_users",
        "b00:0001_users",
        "b01:0001_users",
    ]
    assert report.missing == ["b00:0009_gone"]
    assert report.split == []  # 0001 is at expand everywhere; 0002 pending everywhere
    assert {t.states["0001_users"].value for t in report.targets if t.reachable} == {"expand"}
    gate = next(s for s in report.spread if s.id == "0001_users").contract_blocked_by
    assert gate[0].startswith("ghost is unreachable") and "a00 is at expand" in gate[1]

    args = ["--config", str(_config_file(project)), "fleet", "status", "--fleet", fleet.path]
    result = CliRunner().invoke(
        cli,
        args,
        env=project.environ,
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    assert "ghost   UNREACHABLE: cannot connect" in result.output
    assert "pending!" in result.output and "expand~" in result.output  # interrupted, drifted
    assert "MISSING from disk: 0009_gone" in result.output
    as_json = CliRunner().invoke(
        cli,
        [*args, "--format", "json"],
        env=project.environ,
    )
    assert json.loads(as_json.output)["unreachable"] == ["ghost"]
    assert PASSWORD not in result.output + as_json.output

    # The interrupted phase resumes with a plain fleet advance once its cause is fixed.
    project.member("a01").query("INSERT INTO flag VALUES (1)")
    (project.migrations / "0001_users" / "expand.sql").write_text(
        "CREATE TABLE users (id int PRIMARY KEY, email text, nickname text);\n"
    )
    resumed = fleet_advance(
        fleet, config, "0002_breaks", exclude=["ghost"], environ=project.environ
    )
    assert resumed.ok and resumed.goal is not None and resumed.goal.value == "expand"
    assert {m.state("0002_breaks") for m in project.members} == {"expand"}


def test_stop_policy_ends_the_run_and_continue_policy_carries_on(
    small_fleet: FleetProject,
) -> None:
    project, config = small_fleet, small_fleet.config()
    waves = """
    [[waves]]
    name = "first"
    targets = ["ghost", "a00"]
    {policy}
    [[waves]]
    name = "rest"
    """
    stopping = project.write_fleet(waves.format(policy=""), extra_targets=GHOST)
    stopped = fleet_advance(stopping, config, to=Phase.EXPAND, environ=project.environ)
    assert stopped.stopped_at == "first" and stopped.failed == ["ghost"]
    failure = stopped.waves[0].targets[0]
    assert failure.error == (
        "environment variable FLEET_TEST_GHOST_URL (the URL of target 'ghost') is not set"
    )
    # a00 shares the wave: it ran if it started before ghost failed, else it never started.
    assert {"a01", "b00", "b01"} <= set(stopped.not_started)
    a00 = "expand" if "a00" in stopped.moved else "pending"
    assert [m.state("0001_users") for m in project.members] == [a00] + ["pending"] * 3

    carrying_on = project.write_fleet(
        waves.format(policy='on_failure = "continue"'), extra_targets=GHOST
    )
    carried = fleet_advance(carrying_on, config, to=Phase.EXPAND, environ=project.environ)
    assert carried.stopped_at is None and carried.failed == ["ghost"] and not carried.ok
    assert {m.state("0001_users") for m in project.members} == {"expand"}


def _config_file(project: FleetProject) -> Path:
    path = project.root / "expandctl.toml"
    path.write_text('lock_timeout = "1s"\n', encoding="utf-8")
    return path


def test_a_target_failing_part_way_reports_the_phases_it_did_complete(
    small_fleet: FleetProject,
) -> None:
    project, config = small_fleet, small_fleet.config()
    project.add("0002_late", expand="CREATE TABLE late (id int);", switch_reads=BREAKS)
    for member in project.members:
        member.query("CREATE TABLE flag (id int)")
        if member.name != "b00":
            member.query("INSERT INTO flag VALUES (1)")
    fleet = project.write_fleet()
    report = fleet_advance(
        fleet, config, "0002_late", to=Phase.SWITCH_READS, environ=project.environ
    )
    assert report.failed == ["b00"] and not report.ok
    failed = next(t for t in report.waves[0].targets if t.target == "b00")
    assert failed.error is not None and "division by zero" in failed.error
    assert (failed.before, failed.after) == ("pending", "backfill")
    assert failed.phases == [Phase.EXPAND, Phase.BACKFILL]
    assert project.member("b00").state("0002_late") == "backfill"
