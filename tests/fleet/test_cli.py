"""The thin CLI over the fleet commands: text, JSON and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from expandctl.cli.app import cli
from tests.fleet.conftest import FleetProject

pytestmark = pytest.mark.db


def _run(project: FleetProject, *args: str, env: dict[str, str] | None = None) -> Result:
    config = project.root / "expandctl.toml"
    config.write_text('lock_timeout = "1s"\n', encoding="utf-8")
    fleet = str(project.root / "fleet.toml")
    return CliRunner().invoke(
        cli,
        ["--config", str(config), "fleet", *args, "--fleet", fleet],
        env=project.environ if env is None else env,
        catch_exceptions=False,
    )


def test_fleet_advance_and_rollback_from_the_command_line(small_fleet: FleetProject) -> None:
    small_fleet.write_fleet('[[waves]]\nname = "canary"\ncount = 1\n[[waves]]\nname = "rest"\n')
    moved = _run(small_fleet, "advance", "--to", "backfill")
    assert moved.exit_code == 0, moved.output
    assert "fleet advance 0001_users to backfill" in moved.output
    assert "wave canary: 1 moved" in moved.output and "wave rest: 3 moved" in moved.output
    assert "a00: expand -> backfill done, now backfill" in moved.output
    assert "done: 4 moved" in moved.output

    refused = _run(small_fleet, "advance", "--to", "contract")
    assert refused.exit_code == 4
    assert "runs on no target until every target has finished switch-writes" in refused.output

    lost = {k: v for k, v in small_fleet.environ.items() if "B01" not in k}
    partial = _run(small_fleet, "advance", "--to", "switch-reads", "--format", "json", env=lost)
    assert partial.exit_code == 4
    report = json.loads(partial.output)
    assert report["failed"] == ["b01"] and report["stopped_at"] == "rest"
    assert "b00" in report["moved"] + report["not_started"]

    back = _run(small_fleet, "rollback", "0001_users", "--yes", "--exclude", "b01")
    assert back.exit_code == 0, back.output
    assert "fleet rollback 0001_users to backfill (excluded: b01)" in back.output
    assert small_fleet.member("a00").state("0001_users") == "backfill"
    assert small_fleet.member("b01").state("0001_users") == "backfill"

    unknown = _run(small_fleet, "advance", "--exclude", "nobody")
    assert unknown.exit_code == 2 and "--exclude nobody: no such target" in unknown.output
