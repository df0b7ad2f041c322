"""status, plan and history: what they say, through the CLI, and their JSON schemas."""

from __future__ import annotations

import json
import shutil

import jsonschema
import psycopg
import pytest
from click.testing import CliRunner

from expandctl.cli.app import cli
from expandctl.commands.advance import AdvanceReport, advance
from expandctl.commands.history import HistoryReport
from expandctl.commands.plan import PlanReport, plan
from expandctl.commands.status import StatusReport, status
from expandctl.model.phases import Phase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db


def _three(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);", expand_down="DROP TABLE a;")
    project.add(
        "0002_b",
        expand="CREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY b_i ON b (id);\n",
        expand_down="DROP TABLE b;",
        manifest='requires = ["0001_a"]\n[gates.contract]\nmin_soak = "1d"\n',
    )
    project.add("0003_c", expand="CREATE TABLE c (id int);")


def _valid(model: type, text: str) -> dict:  # type: ignore[type-arg]
    data = json.loads(text)
    jsonschema.validate(data, model.model_json_schema(mode="serialization"))  # type: ignore[attr-defined]
    return data  # type: ignore[no-any-return]


def test_status_before_anything_ran_creates_nothing(project: Project) -> None:
    _three(project)
    report = status(project.config())
    assert not report.initialized
    assert [(m.id, m.state.value, m.next_action) for m in report.migrations] == [
        ("0001_a", "pending", "advance runs expand"),
        ("0002_b", "pending", "advance runs expand"),
        ("0003_c", "pending", "advance runs expand"),
    ]
    assert "requires 0001_a" in report.migrations[1].blocked[0]
    assert project.one("SELECT to_regnamespace('expandctl')") is None


def test_status_shows_timings_drift_missing_and_interrupted(project: Project) -> None:
    _three(project)
    project.add("0004_d", expand="CREATE TABLE d (id int);\nSELECT 1 / count(*) FROM flag;")
    project.query("CREATE TABLE flag (id int)")
    config = project.config()
    advance(config, "0001_a")
    advance(config, "0003_c")
    with pytest.raises(Exception, match="division by zero"):
        advance(config, "0004_d")
    (project.migrations / "0001_a" / "expand.sql").write_text("CREATE TABLE a (id bigint);")
    shutil.rmtree(project.migrations / "0003_c")
    report = status(project.config())
    rows = {m.id: m for m in report.migrations}
    assert rows["0001_a"].phases[0].phase is Phase.EXPAND and "@" in rows["0001_a"].phases[0].by
    assert [d.phase for d in rows["0001_a"].drift] == [Phase.EXPAND]
    assert report.drifted == ["0001_a"]
    assert not rows["0003_c"].on_disk and "MISSING" in rows["0003_c"].next_action
    d = rows["0004_d"].in_progress
    assert (
        d is not None
        and d.interrupted
        and not d.running
        and (d.steps_done, d.total_steps) == (0, 2)
    )
    assert report.interrupted == ["0004_d"]
    text = project.cli("status").output
    assert "!! 0004_d was INTERRUPTED mid-expand" in text
    assert "DRIFT: expand.sql of expand changed" in text  # names the file that changed
    _valid(StatusReport, project.cli("status", "--format", "json").output)


def test_plan_is_the_object_advance_runs(project: Project) -> None:
    _three(project)
    report = plan(project.config(), "0002_b")
    assert report.refusals and "requires 0001_a" in report.refusals[0]
    advance(project.config(), "0001_a")
    report = plan(project.config(), "0002_b")
    assert report.refusals == [] and report.plan is not None
    assert [(s.number, s.mode, s.source, s.line) for s in report.steps] == [
        (1, "transaction", "expand.sql", 1),
        (2, "autocommit", "expand.sql", 2),
    ]
    ran = advance(project.config(), "0002_b").runs[0]
    assert ran.steps_total == len(report.plan.steps)
    assert project.one("SELECT to_regclass('b_i') IS NOT NULL")


def test_plan_executes_nothing(project: Project) -> None:
    _three(project)
    plan(project.config())
    plan(project.config(), "0001_a")
    assert project.one("SELECT to_regnamespace('expandctl')") is None
    assert project.one("SELECT to_regclass('a')") is None


def test_plan_cli_text_marks_transaction_and_autocommit(project: Project) -> None:
    _three(project)
    advance(project.config(), "0001_a")
    result = project.cli("plan", "0002_b")
    assert result.exit_code == 0, result.output
    assert "advance 0002_b: expand (pending -> expand)" in result.output
    assert "1. [transaction] expand.sql:1" in result.output
    assert "2. [autocommit] expand.sql:2" in result.output
    assert "CREATE INDEX CONCURRENTLY b_i ON b (id)" in result.output
    data = _valid(PlanReport, project.cli("plan", "0002_b", "--format", "json").output)
    assert data["plan"]["steps"][1]["autocommit"] is True


def test_plan_shows_refusals_and_exits_4(project: Project) -> None:
    _three(project)
    result = project.cli("plan", "0002_b")
    assert result.exit_code == 4
    assert "refused: 0002_b requires 0001_a" in result.output


def test_plan_rollback_and_gates(project: Project) -> None:
    _three(project)
    advance(project.config(), all_migrations=True)
    advance(project.config(), "0002_b", to=Phase.SWITCH_WRITES)
    forward = plan(project.config(), "0002_b")
    assert len(forward.gates) == 1
    assert forward.gates[0].startswith("min_soak 1d since switch-writes finished (not yet: ")
    assert forward.gates[0].endswith("(23h 59min to go))")
    assert not forward.needs_confirmation  # its contract runs nothing: nothing to destroy
    back = plan(project.config(), "0001_a", rollback=True)
    assert back.refusals == ["0002_b requires 0001_a and is switch-writes"]
    result = project.cli("plan", "0003_c", "--rollback")
    assert result.exit_code == 4 and "no reverse steps for expand of 0003_c" in result.output


def test_plan_offline_needs_no_database(project: Project) -> None:
    _three(project)
    project.write_config()
    out = CliRunner().invoke(
        cli,
        [
            "--config",
            str(project.root / "expandctl.toml"),
            "--database-url",
            "postgresql://nobody@127.0.0.1:1/none",
            "plan",
            "0002_b",
            "--phase",
            "expand",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "planned from files only" in out.output and "[autocommit]" in out.output


def test_history_is_the_event_log(project: Project) -> None:
    _three(project)
    advance(project.config(), "0001_a")
    advance(project.config(), "0001_a")
    result = project.cli("history", "0001_a")
    lines = result.output.strip().splitlines()
    assert len(lines) == 4
    assert "0001_a expand forward  phase started" in lines[0]
    assert "0001_a backfill forward  phase ok" in lines[3]
    data = _valid(HistoryReport, project.cli("history", "--format", "json", "--limit", "1").output)
    assert len(data["events"]) == 1 and data["events"][0]["outcome"] == "ok"


def test_advance_and_rollback_cli(project: Project) -> None:
    _three(project)
    result = project.cli("advance", "0001_a")
    assert result.exit_code == 0 and "0001_a: expand done (1/1 step," in result.output
    result = project.cli("rollback", "0001_a")  # no terminal: needs --yes
    assert result.exit_code == 4 and "needs confirmation" in result.output
    result = project.cli("rollback", "0001_a", "--yes", "--format", "json")
    data = _valid(AdvanceReport, result.output)
    assert data["runs"][0]["direction"] == "rollback"
    result = project.cli("advance", "0002_b")
    assert result.exit_code == 4 and "requires 0001_a" in result.output
    result = project.cli("advance", "--to", "contract", "0001_a")  # its contract runs nothing
    assert result.exit_code == 0 and "contract done (nothing to run" in result.output


def test_history_of_an_unknown_id_is_an_error_not_an_empty_log(project: Project) -> None:
    _three(project)
    advance(project.config(), "0001_a")
    result = project.cli("history", "0001_typo")
    assert result.exit_code == 2
    assert "no migration '0001_typo'" in result.output
    assert project.cli("history", "0003_c").output.strip() == "no events recorded"  # on disk


def test_a_password_in_the_url_never_reaches_events_errors_or_outputs(project: Project) -> None:
    from psycopg.conninfo import conninfo_to_dict

    real = conninfo_to_dict(project.db.dsn).get("password")
    secret = str(real) if real else "s3cret-Pw-42"  # trust auth ignores a made-up one
    url = project.db.url if real else project.db.url.replace("postgres@", f"postgres:{secret}@")
    assert secret in url
    # A failing step whose error text holds the password, as a driver error might.
    project.add("0001_t", expand=f'CREATE TABLE t (id int);\nSELECT * FROM "{secret}";\n')
    project.write_config()
    base = ["--config", str(project.root / "expandctl.toml"), "--database-url", url]
    runner = CliRunner()
    failed = runner.invoke(cli, [*base, "-v", "advance", "0001_t"], catch_exceptions=False)
    assert failed.exit_code == 3 and "does not exist" in failed.output
    outputs = [failed.output]
    for args in (["status"], ["history"]):  # plan shows the SQL itself, secret included
        for fmt in ("text", "json"):
            result = runner.invoke(cli, [*base, *args, "--format", fmt], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
    bad = CliRunner().invoke(cli, [*base[:3], url + "x", "status"], catch_exceptions=False)
    assert bad.exit_code == 3
    outputs.append(bad.output)
    details = [r[0] for r in project.query("SELECT coalesce(detail, '') FROM expandctl.events")]
    assert any("does not exist" in d for d in details)
    leaks = [text for text in [*outputs, *details] if secret in text]
    assert leaks == []


def test_plan_of_an_interrupted_phase_says_whether_its_edits_allow_a_resume(
    project: Project,
) -> None:
    folder = project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n"
        "ALTER TABLE tt ADD COLUMN x int;\n",
    )
    with pytest.raises(Exception, match="tt"):
        advance(project.config())
    (folder / "expand.sql").write_text(
        "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n"
        "ALTER TABLE t ADD COLUMN x int;\n"
    )
    report = plan(project.config(), "0001_t")
    assert report.refusals == [] and report.resume_from == 2
    assert any("advance resumes with the edited steps" in note for note in report.notes)
    assert status(project.config()).drifted == []
    (folder / "expand.sql").write_text("CREATE TABLE t (id bigint);\nSELECT 1;\nSELECT 2;\n")
    result = project.cli("plan", "0001_t")
    assert result.exit_code == 4
    assert "refused: drift: step 1 (expand.sql:1) of the interrupted expand" in result.output
    row = status(project.config()).migrations[0]
    assert [d.phase for d in row.drift] == [Phase.EXPAND]
    assert any("step 1 (expand.sql:1)" in reason for reason in row.blocked)


def test_a_lock_held_in_another_database_of_the_server_is_not_ours(project: Project) -> None:
    """Advisory locks are per database: staging running next to production is no holder."""
    from expandctl.engine.locking import lock_key
    from tests.pg_provider import fresh_database

    project.add("0001_a", expand="CREATE TABLE a (id int);")
    server = project.db.server
    with (
        fresh_database(server) as other,
        psycopg.connect(server.dsn_for(other), autocommit=True) as elsewhere,
    ):
        elsewhere.execute("SELECT pg_advisory_lock(%s, %s)", lock_key("expandctl"))
        assert status(project.config()).lock_holder is None
        assert advance(project.config()).runs[0].phase == "expand"


def test_plan_rollback_warns_when_the_phase_files_changed_since_it_ran(project: Project) -> None:
    folder = project.add("0001_a", expand="CREATE TABLE a (id int);", expand_down="DROP TABLE a;")
    advance(project.config())
    assert plan(project.config(), "0001_a", rollback=True).notes == []
    (folder / "expand.down.sql").write_text("DROP TABLE IF EXISTS a;\n")
    notes = plan(project.config(), "0001_a", rollback=True).notes
    assert any(
        "changed since it ran: the rollback runs the reverse steps as they are now" in n
        for n in notes
    )
