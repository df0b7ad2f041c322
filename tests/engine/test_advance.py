"""advance: runs phases in order against a real PostgreSQL and refuses what is unsafe."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.errors import (
    ConfigError,
    DatabaseError,
    Declined,
    LockBusyError,
    StateError,
    UsageError,
)
from expandctl.model.config import ResolvedConfig, Settings
from expandctl.model.phases import Phase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

USERS = "CREATE TABLE users (id int PRIMARY KEY, email text);\n"


def test_advance_runs_expand_and_records_state_checksum_and_events(project: Project) -> None:
    project.add("0001_users", expand=USERS, expand_down="DROP TABLE users;")
    report = advance(project.config())
    assert [(r.migration_id, r.phase, r.steps_run) for r in report.runs] == [
        ("0001_users", "expand", 1)
    ]
    assert project.one("SELECT to_regclass('users') IS NOT NULL")
    assert project.state("0001_users") == "expand"
    phases = project.one("SELECT phases FROM expandctl.migrations WHERE id = '0001_users'")
    assert set(phases) == {"expand"} and len(phases["expand"]["checksum"]) == 64
    assert project.one("SELECT in_progress FROM expandctl.migrations") is None
    events = project.query(
        "SELECT action, outcome, os_user, version FROM expandctl.events ORDER BY id"
    )
    assert [(a, o) for a, o, _, _ in events] == [("phase", "started"), ("phase", "ok")]
    assert all(user and version for _, _, user, version in events)


def test_connections_say_they_are_expandctl(project: Project) -> None:
    project.add(
        "0001_seen",
        expand="CREATE TABLE seen AS SELECT application_name AS app "
        "FROM pg_stat_activity WHERE pid = pg_backend_pid();",
    )
    advance(project.config())
    assert project.one("SELECT app FROM seen") == "expandctl"


def test_each_advance_runs_exactly_one_next_phase(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    config = project.config()
    phases = [advance(config, "0001_users").runs[0].phase for _ in range(4)]
    assert phases == ["expand", "backfill", "switch-reads", "switch-writes"]
    assert project.state("0001_users") == "switch-writes"


def test_default_is_the_oldest_migration_in_flight(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    project.add("0002_b", expand="CREATE TABLE b (id int);")
    config = project.config()
    advance(config, "0002_b")
    assert advance(config).runs[0].migration_id == "0002_b"  # in flight beats pending
    assert project.state("0002_b") == "backfill"


def test_to_runs_every_phase_up_to_the_target_in_order(project: Project) -> None:
    project.add("0001_users", expand=USERS, switch_reads="CREATE VIEW v AS SELECT 1 AS x;")
    report = advance(project.config(), "0001_users", to=Phase.SWITCH_READS)
    assert [r.phase for r in report.runs] == ["expand", "backfill", "switch-reads"]
    again = advance(project.config(), "0001_users", to=Phase.EXPAND)
    assert again.runs == [] and "already at switch-reads" in again.messages[0]


def test_all_moves_every_migration_one_phase(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    project.add("0002_b", expand="CREATE TABLE b (id int);", manifest='requires = ["0001_a"]\n')
    report = advance(project.config(), all_migrations=True)
    assert [(r.migration_id, r.phase) for r in report.runs] == [
        ("0001_a", "expand"),
        ("0002_b", "expand"),
    ]
    with pytest.raises(UsageError):
        advance(project.config(), "0001_a", all_migrations=True)


def test_refuses_to_start_before_requires_are_expanded(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    project.add("0002_b", expand="CREATE TABLE b (id int);", manifest='requires = ["0001_a"]\n')
    with pytest.raises(StateError, match="requires 0001_a, which is pending") as info:
        advance(project.config(), "0002_b")
    assert info.value.hint == "expandctl advance 0001_a"
    assert project.one("SELECT to_regclass('b')") is None


def test_refuses_when_files_of_a_phase_that_ran_changed(project: Project) -> None:
    folder = project.add("0001_users", expand=USERS)
    advance(project.config())
    (folder / "expand.sql").write_text(USERS + "ALTER TABLE users ADD COLUMN x int;\n")
    with pytest.raises(StateError, match="drift: the files of expand of 0001_users changed"):
        advance(project.config())
    assert project.state("0001_users") == "expand"


def test_contract_needs_confirmation_and_then_cannot_be_rolled_back(project: Project) -> None:
    project.add(
        "0001_users",
        expand=USERS,
        contract="ALTER TABLE users DROP COLUMN email;",
        manifest='retires = ["users.email"]\n',
    )
    config = project.config()
    advance(config, to=Phase.SWITCH_WRITES)
    with pytest.raises(StateError, match="needs confirmation"):
        advance(config)
    with pytest.raises(Declined, match="nothing changed"):  # answered no: its own exit code
        advance(config, confirm=lambda question: False)
    assert project.state("0001_users") == "switch-writes"
    asked: list[str] = []
    advance(config, confirm=lambda q: asked.append(q) or True)
    assert "cannot be undone" in asked[0]
    assert project.state("0001_users") == "contract"
    with pytest.raises(StateError, match="point of no return"):
        rollback(config, "0001_users", yes=True)
    assert "complete" in advance(config, "0001_users").messages[0]


def test_to_contract_asks_before_running_anything(project: Project) -> None:
    project.add("0001_users", expand=USERS, contract="SELECT 1;")  # a contract that runs a step
    with pytest.raises(StateError, match="needs confirmation"):
        advance(project.config(), "0001_users", to=Phase.CONTRACT)
    assert project.one("SELECT to_regclass('expandctl.migrations')") is None


def test_a_failing_transactional_phase_changes_nothing(project: Project) -> None:
    folder = project.add("0001_users", expand=USERS + "ALTER TABLE users ADD COLUMN email text;\n")
    with pytest.raises(
        DatabaseError, match=r"expand of 0001_users failed at step 2/2 \(expand.sql:2\)"
    ) as info:
        advance(project.config())
    # Steps 1 and 2 share a transaction: the hint must not claim step 1 is done.
    assert info.value.hint is not None and info.value.hint.startswith("no step is recorded done")
    assert (info.value.path, info.value.line) == (folder / "expand.sql", 2)
    assert project.one("SELECT to_regclass('users')") is None  # step 1 rolled back with it
    assert project.state("0001_users") == "pending"
    outcome = project.one("SELECT detail FROM expandctl.events WHERE outcome = 'failed'")
    assert "already exists" in outcome
    # Nothing was recorded done, so fixing the file is allowed (not drift) and starts over.
    (folder / "expand.sql").write_text(USERS)
    assert advance(project.config()).runs[0].steps_run == 1
    assert project.state("0001_users") == "expand"


def test_autocommit_steps_are_recorded_one_by_one_and_resumed(project: Project) -> None:
    project.add(
        "0001_users",
        expand=USERS
        + "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n"
        + "SELECT 1 / (SELECT count(*) FROM flag);\n",
    )
    project.query("CREATE TABLE flag (id int)")
    with pytest.raises(DatabaseError, match="step 3/3") as info:
        advance(project.config())
    assert info.value.hint is not None
    assert info.value.hint.startswith("steps before 3 are recorded done")
    progress = project.one("SELECT in_progress FROM expandctl.migrations")
    assert (progress["phase"], progress["next_step"]) == ("expand", 2)
    assert project.one(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_idx'::regclass"
    )
    project.query("INSERT INTO flag VALUES (1)")
    report = advance(project.config())
    assert (report.runs[0].resumed_from, report.runs[0].steps_run) == (2, 1)
    assert project.state("0001_users") == "expand"


def test_an_invalid_index_from_a_failed_concurrent_build_is_dropped_and_rebuilt(
    project: Project,
) -> None:
    project.query("CREATE TABLE users (id int PRIMARY KEY, email text)")
    project.add(
        "0001_users",
        expand="CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\n",
    )
    project.query("INSERT INTO users VALUES (1, 'a'), (2, 'a')")
    with pytest.raises(DatabaseError, match="could not create unique index"):
        advance(project.config())
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_key'::regclass"
    assert project.one(valid) is False  # PostgreSQL leaves the INVALID index behind
    project.query("UPDATE users SET email = 'b' WHERE id = 2")
    advance(project.config())
    assert project.one(valid) is True
    assert project.state("0001_users") == "expand"


def test_connection_loss_mid_phase_is_clear_and_resumable(project: Project) -> None:
    project.add(
        "0001_users",
        expand="CREATE TABLE t1 (id int);\nCREATE INDEX CONCURRENTLY t1_i ON t1 (id);\n"
        "SELECT pg_terminate_backend(pg_backend_pid()) FROM marker;\nCREATE TABLE t2 (id int);\n",
    )
    project.query("CREATE TABLE marker AS SELECT 1 AS x")
    with pytest.raises(DatabaseError, match=r"lost the connection|terminat") as info:
        advance(project.config())
    assert "resume" in (info.value.hint or "")
    progress = project.one("SELECT in_progress FROM expandctl.migrations")
    assert progress["next_step"] == 2
    project.query("DELETE FROM marker")
    report = advance(project.config())
    assert report.runs[0].resumed_from == 2
    assert project.one("SELECT to_regclass('t2') IS NOT NULL")
    assert project.state("0001_users") == "expand"


def test_second_advance_waits_then_names_the_lock_holder(project: Project) -> None:
    from expandctl.engine.locking import lock_key

    project.add("0001_users", expand=USERS)
    with psycopg.connect(project.db.dsn, autocommit=True, application_name="other-tool") as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", lock_key("expandctl"))
        pid = holder.info.backend_pid
        config = project.config(advisory_lock_wait=timedelta(milliseconds=300))
        with pytest.raises(LockBusyError, match=f"pid {pid} .*application 'other-tool'"):
            advance(config)
    assert project.one("SELECT to_regclass('users')") is None


def test_state_schema_is_configurable(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    advance(project.config(state_schema="deploys"))
    assert project.one("SELECT state FROM deploys.migrations") == "expand"
    assert project.one("SELECT to_regclass('expandctl.migrations')") is None


def test_a_newer_state_layout_is_refused(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    advance(project.config())
    project.query(
        "INSERT INTO expandctl.schema_version (version, expandctl_version) VALUES (99, 'x')"
    )
    with pytest.raises(StateError, match="layout version 99, newer"):
        advance(project.config())


def test_the_event_log_is_append_only(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    advance(project.config())
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        project.query("DELETE FROM expandctl.events")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        project.query("UPDATE expandctl.events SET outcome = 'ok'")


def test_unknown_migration_and_missing_database_are_clear(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    with pytest.raises(UsageError, match="no migration '0009_nope'"):
        advance(project.config(), "0009_nope")
    assert advance(project.config(), "1").runs[0].migration_id == "0001_users"
    config = ResolvedConfig(
        settings=Settings(), project_root=str(project.root), source=None, database_url=None
    )
    with pytest.raises(ConfigError, match="no database") as info:
        advance(config)
    assert "DATABASE_URL" in (info.value.hint or "") and "--embedded" in (info.value.hint or "")


def test_connection_errors_never_show_the_password(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    config = project.config().model_copy(
        update={"database_url": "postgresql://postgres:s3cret-pw@127.0.0.1:1/nowhere"}
    )
    with pytest.raises(DatabaseError) as info:
        advance(config)
    assert "s3cret-pw" not in str(info.value)


def test_refusals_are_recorded_in_the_event_log(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    project.add("0002_b", expand="CREATE TABLE b (id int);", manifest='requires = ["0001_a"]\n')
    advance(project.config(), "0001_a")
    project.query("DELETE FROM expandctl.migrations")  # pretend 0001_a never ran
    with pytest.raises(StateError):
        advance(project.config(), "0002_b")
    refused = project.query(
        "SELECT action, migration_id, detail FROM expandctl.events WHERE outcome = 'refused'"
    )
    assert len(refused) == 1
    assert refused[0][:2] == ("advance", "0002_b") and "requires 0001_a" in refused[0][2]


def test_all_with_to_moves_every_migration_up_to_the_phase(project: Project) -> None:
    project.add("0001_a", expand="CREATE TABLE a (id int);")
    project.add("0002_b", expand="CREATE TABLE b (id int);", manifest='requires = ["0001_a"]\n')
    report = advance(project.config(), all_migrations=True, to=Phase.SWITCH_READS)
    assert len(report.runs) == 6
    assert project.state("0001_a") == project.state("0002_b") == "switch-reads"
    with pytest.raises(StateError, match="every migration"):
        advance(project.config(), all_migrations=True, to=Phase.CONTRACT)


def test_changing_the_files_of_a_half_done_phase_is_drift(project: Project) -> None:
    folder = project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n"
        "SELECT 1 / count(*) FROM flag;\n",
    )
    project.query("CREATE TABLE flag (id int)")
    with pytest.raises(DatabaseError):
        advance(project.config())
    (folder / "expand.sql").write_text("CREATE TABLE t (id int);\nSELECT 1;\n")
    with pytest.raises(
        StateError, match=r"drift: step 2 \(expand.sql:2\) of the interrupted expand of 0001_t"
    ) as info:
        advance(project.config())
    assert info.value.path == folder
    assert project.one("SELECT in_progress ->> 'next_step' FROM expandctl.migrations") == "2"


def test_a_half_done_phase_resumes_with_its_failed_step_fixed(project: Project) -> None:
    """Fixing the statement that failed must not leave the phase stuck as drift."""
    folder = project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n"
        "ALTER TABLE tt ADD COLUMN x int;\n",
    )
    with pytest.raises(DatabaseError, match=r"step 3/3 \(expand.sql:3\)"):
        advance(project.config())
    fixed = (
        "-- a comment above a step that ran is no edit\n"
        "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n"
        "ALTER TABLE t ADD COLUMN x int;\nALTER TABLE t ADD COLUMN y int;\n"
    )
    (folder / "expand.sql").write_text(fixed)
    report = advance(project.config())
    assert (report.runs[0].resumed_from, report.runs[0].steps_run) == (2, 2)
    assert (
        project.one("SELECT count(*) FROM information_schema.columns WHERE table_name = 't'") == 3
    )
    assert project.state("0001_t") == "expand"
    # The phase is recorded with the files it finished with: no drift afterwards.
    from expandctl.commands.status import status

    assert status(project.config()).drifted == []
    assert advance(project.config()).runs[0].phase == "backfill"


def test_losing_the_lock_connection_stops_before_the_next_step(project: Project) -> None:
    """The advisory lock lives on the control connection: without it, stop and say so."""
    import threading

    project.add(
        "0001_t",
        expand="CREATE TABLE t (id int);\nSELECT pg_advisory_xact_lock(4242);\n"
        "CREATE INDEX CONCURRENTLY t_i ON t (id);\nCREATE TABLE u (id int);\n",
    )
    config = project.config(lock_timeout=timedelta(seconds=60))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            advance(config)
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    with psycopg.connect(project.db.dsn, autocommit=True) as test_conn:
        test_conn.execute("SELECT pg_advisory_lock(4242)")
        mover = threading.Thread(target=run)
        mover.start()
        work_pid = None
        for _ in range(600):  # until the work connection waits for our lock (<= 60 s)
            row = test_conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 "
                "AND NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            if row:
                work_pid = row[0]
                break
            test_conn.execute("SELECT pg_sleep(0.1)")
        assert work_pid is not None, failure
        terminated = test_conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'expandctl' AND datname = current_database() "
            "AND pid <> %s",
            (work_pid,),
        ).fetchall()
        assert terminated == [(True,)]
        test_conn.execute("SELECT pg_advisory_unlock(4242)")
        mover.join(timeout=60)
    assert len(failure) == 1 and isinstance(failure[0], DatabaseError), failure
    error = failure[0]
    assert "stopped before step 3/4: lost the connection holding the advisory lock" in str(error)
    assert "steps before 3 are recorded done" in (error.hint or "")
    assert project.one("SELECT to_regclass('t_i')") is None  # nothing ran after the loss
    assert project.one("SELECT in_progress ->> 'next_step' FROM expandctl.migrations") == "2"
    report = advance(project.config())
    assert report.runs[0].resumed_from == 2
    assert project.state("0001_t") == "expand"


def test_status_tells_running_from_interrupted(project: Project) -> None:
    from expandctl.commands.status import status
    from expandctl.engine.locking import lock_key

    project.add("0001_t", expand="CREATE TABLE t (id int);\nSELECT 1 / count(*) FROM flag;\n")
    project.query("CREATE TABLE flag (id int)")
    with pytest.raises(DatabaseError):
        advance(project.config())
    progress = status(project.config()).migrations[0].in_progress
    assert progress is not None and progress.interrupted and not progress.running
    with psycopg.connect(project.db.dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", lock_key("expandctl"))
        report = status(project.config())
        progress = report.migrations[0].in_progress
        assert progress is not None and progress.running and not progress.interrupted
        assert report.lock_holder and f"pid {other.info.backend_pid}" in report.lock_holder
        assert report.migrations[0].next_action == "running expand now"


def test_sql_with_percent_signs_and_braces_runs_verbatim(project: Project) -> None:
    project.add(
        "0001_t",
        expand="CREATE TABLE t AS SELECT '100%' AS pct, '{\"a\": 1}'::jsonb AS doc, "
        "format('%s%%', 5) AS f;\n",
    )
    advance(project.config())
    assert project.query("SELECT pct, doc, f FROM t") == [("100%", {"a": 1}, "5%")]
