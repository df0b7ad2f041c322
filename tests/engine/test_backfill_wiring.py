"""The backfill runner as the engine commands show it: plan, status, advance progress, --dry-run."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import psycopg
import pytest
from pydantic import BaseModel

from expandctl.cli.cmd_status import describe_checkpoint
from expandctl.commands.advance import advance
from expandctl.commands.advance_dry_run import AdvanceDryRunReport
from expandctl.commands.plan import PlanReport
from expandctl.commands.status import StatusReport, status
from expandctl.engine.backfill import BackfillProgress, set_paused
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

MID = "0001_email_norm"
MANIFEST = """
[backfill]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 400
"""
# The set never satisfies the where: every batch runs, then verification fails.
BROKEN = """
[backfill]
table = "users"
set = { email_norm = "NULL" }
where = "email_norm IS NULL"
batch_size = 400
"""


def _valid(model: type[BaseModel], text: str) -> Any:
    data = json.loads(text)
    jsonschema.validate(data, model.model_json_schema(mode="serialization"))
    return data


def _setup(project: Project, manifest: str = MANIFEST, rows: int = 2000) -> None:
    project.query("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
    project.query(
        "INSERT INTO users SELECT g, 'A' || g || '@B.C' FROM generate_series(1, %s) g", (rows,)
    )
    project.add(
        MID,
        manifest=manifest,
        expand="ALTER TABLE users ADD COLUMN email_norm text;\n",
        expand_down="ALTER TABLE users DROP COLUMN email_norm;\n",
    )
    expanded = project.cli("advance", MID)
    assert expanded.exit_code == 0, expanded.output


def test_plan_shows_the_batch_update_with_the_key_from_the_catalog(project: Project) -> None:
    _setup(project)
    text = project.cli("plan", MID, "-v")  # -v: the statements each batch runs
    assert text.exit_code == 0, text.output
    assert "batch key: id" in text.output
    assert "UPDATE users SET" in text.output and "email_norm = (lower(email))" in text.output
    assert "(id) > (:last_id) AND (id) <= (:upper_id)" in text.output

    shown = _valid(PlanReport, project.cli("plan", MID, "--format", "json").output)
    [step] = shown["steps"]
    assert step["kind"] == "backfill" and step["batch_key"] == ["id"]
    assert "UPDATE users SET" in step["batch_sql"]


def test_offline_plan_says_the_key_is_resolved_at_run_time(project: Project) -> None:
    _setup(project)
    text = project.cli("plan", MID, "--phase", "backfill", "-v")
    assert text.exit_code == 0, text.output
    assert "resolved when advance runs" in text.output
    assert "UPDATE users SET" in text.output and "<primary key>" in text.output


def test_status_shows_rows_done_of_an_interrupted_backfill(project: Project) -> None:
    _setup(project, BROKEN)
    failed = project.cli("advance", MID)
    assert failed.exit_code != 0
    assert project.state(MID) == "expand"

    text = project.cli("status")
    assert text.exit_code == 0, text.output
    assert "INTERRUPTED" in text.output
    assert "backfill [0] public.users: 2,000 rows updated in pass 1" in text.output
    assert "last key (2000)" in text.output and "2,000 rows left" in text.output

    shown = _valid(StatusReport, project.cli("status", "--format", "json").output)
    [row] = shown["migrations"]
    [checkpoint] = row["backfill"]
    assert checkpoint["rows_done"] == 2000 and checkpoint["remaining"] == 2000
    assert checkpoint["last_key"] == ["2000"] and checkpoint["paused"] is False


def test_status_shows_no_backfill_for_a_migration_not_in_it(project: Project) -> None:
    _setup(project)
    shown = json.loads(project.cli("status", "--format", "json").output)
    assert shown["migrations"][0]["backfill"] is None
    assert "backfill [" not in project.cli("status").output


def test_advance_dry_run_times_one_batch_and_keeps_nothing(project: Project) -> None:
    _setup(project)
    events = project.one("SELECT count(*) FROM expandctl.events")
    text = project.cli("advance", MID, "--dry-run")
    assert text.exit_code == 0, text.output
    assert "one batch of up to 400 rows took" in text.output
    assert "would update 400 of 400 rows scanned (2,000 rows to do in all)" in text.output
    assert "nothing was kept" in text.output

    dry = project.cli("advance", MID, "--dry-run", "--format", "json")
    shown = _valid(AdvanceDryRunReport, dry.output)
    [batch] = shown["batches"]
    assert batch["rows_matched"] == 400 and batch["batch_ms"] > 0
    assert shown["executed"] is False and shown["plan"]["phase"] == "backfill"

    assert project.one("SELECT count(email_norm) FROM users") == 0
    assert project.state(MID) == "expand"
    assert project.one("SELECT count(*) FROM expandctl.events") == events


def test_advance_dry_run_of_a_sql_phase_only_plans(project: Project) -> None:
    project.add(
        MID,
        expand="ALTER TABLE users ADD COLUMN email_norm text;\n",
        expand_down="ALTER TABLE users DROP COLUMN email_norm;\n",
    )
    project.query("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
    text = project.cli("advance", MID, "--dry-run")
    assert text.exit_code == 0, text.output
    assert "ALTER TABLE users ADD COLUMN email_norm text" in text.output
    assert "nothing was executed" in text.output
    columns = project.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
    )
    assert ("email_norm",) not in columns
    assert project.one("SELECT to_regclass('expandctl.migrations')") is None  # not even created


def test_advance_calls_the_progress_callback_after_batches(project: Project) -> None:
    _setup(project)
    ticks: list[BackfillProgress] = []
    report = advance(project.config(), MID, progress=ticks.append)
    assert [r.phase for r in report.runs] == ["backfill"]
    assert len(ticks) >= 5  # 2000 rows / 400 per batch
    assert ticks[-1].rows_done == 2000 and ticks[-1].table == "public.users"
    assert [t.rows_done for t in ticks] == sorted(t.rows_done for t in ticks)


def test_advance_cli_logs_progress_unless_quiet(project: Project) -> None:
    _setup(project)
    ran = project.cli("advance", MID)
    assert ran.exit_code == 0, ran.output
    assert f"backfill {MID}[0] public.users: 2,000 rows updated" in ran.output


def test_advance_quiet_shows_no_progress(project: Project) -> None:
    _setup(project)
    ran = project.cli("--quiet", "advance", MID)
    assert ran.exit_code == 0, ran.output
    assert "rows updated" not in ran.output
    assert project.one("SELECT count(email_norm) FROM users") == 2000


def test_status_shows_a_running_backfill_and_its_pause_flag(project: Project) -> None:
    """Status is read from inside the progress callback, i.e. while advance runs."""
    _setup(project)
    project.query("ANALYZE users")  # the estimated total comes from pg_class.reltuples
    config = project.config()
    seen: list[StatusReport] = []

    def flag(paused: bool) -> None:
        with psycopg.connect(project.db.dsn, autocommit=True) as conn:
            set_paused(conn, schema="expandctl", migration_id=MID, paused=paused)

    def tick(p: BackfillProgress) -> None:
        if not seen:
            seen.append(status(config))
            flag(True)
        elif p.paused and len(seen) == 1:
            seen.append(status(config))
            flag(False)

    advance(config, MID, progress=tick)
    running, paused = (report.migrations[0] for report in seen)
    assert running.in_progress is not None and running.in_progress.running
    [checkpoint] = running.backfill or []
    assert checkpoint.rows_done == 400 and not checkpoint.finished and not checkpoint.paused
    assert checkpoint.last_key == ["400"] and checkpoint.rows_estimate == 2000
    line = describe_checkpoint(checkpoint)
    assert "400 rows updated in pass 1, all runs (table ~2,000 rows)" in line
    assert "not finished" in line
    [checkpoint] = paused.backfill or []
    assert checkpoint.paused and checkpoint.rows_done == 400
    assert "PAUSED" in describe_checkpoint(checkpoint)
    assert project.one("SELECT count(email_norm) FROM users") == 2000


def test_advance_dry_run_says_when_advance_would_refuse(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    project.add("0002_b", expand="CREATE TABLE b (id int);", manifest='requires = ["0001_a"]\n')
    refused = project.cli("advance", "0002_b", "--dry-run")
    assert refused.exit_code == 4, refused.output
    assert "refused: " in refused.output and "0001_a" in refused.output
    assert "nothing was executed" in refused.output
    assert project.one("SELECT to_regclass('a')") is None
    assert project.cli("advance", "--dry-run", "--all").exit_code == 2
