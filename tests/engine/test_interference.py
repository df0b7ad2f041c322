"""In-flight interference: a phase that removes what something still needs is refused.

Each test builds the needing thing for real on PostgreSQL (another migration
advanced by the engine, or a catalog object), then asks the check about the
phase that would remove what it needs.
"""

from __future__ import annotations

import psycopg
import pytest

from expandctl.commands.advance import advance, load_set
from expandctl.engine.interference import Interference, interference_of_phase
from expandctl.engine.store import StateStore
from expandctl.lint.removals import removals
from expandctl.model.phases import Phase
from expandctl.model.planning import plan_phase
from expandctl.model.steps import Direction, PhasePlan, SqlStep
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

USERS = """
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL
);
"""
# Like the shipped 0003: a trigger keeps email_normalized = lower(email).
NORMALIZE = """
CREATE FUNCTION users_email_normalized_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.email_normalized := lower(NEW.email);
    RETURN NEW;
END
$$;
CREATE TRIGGER users_email_normalized_sync BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_email_normalized_sync();
ALTER TABLE users ADD COLUMN email_normalized text;
"""
NORMALIZE_CONTRACT = """
DROP TRIGGER users_email_normalized_sync ON users;
DROP FUNCTION users_email_normalized_sync();
"""
NORMALIZE_RETIRES = """
retires = ["function:users_email_normalized_sync"]
"""
RENAME_EMAIL = """
[[operations]]
op = "rename_column"
table = "users"
column = "email"
to = "email_address"
type = "text"
not_null = true
"""


def check(project: Project, migration_id: str, phase: Phase = Phase.CONTRACT) -> list[Interference]:
    """What the interference check says about running ``phase`` of ``migration_id`` now."""
    migrations = load_set(project.config())
    migration = migrations.get(migration_id)
    assert migration is not None
    plan = plan_phase(migration, phase)
    with psycopg.connect(project.db.dsn) as conn:
        store = StateStore("expandctl")
        records = store.load(conn) if store.exists(conn) else {}
        return interference_of_phase(conn, migration, plan, removals(plan), migrations, records)


def drop_project(project: Project, contract: str, expand: str = USERS) -> None:
    """0001 creates users (and whatever ``expand`` adds); 0002's contract is ``contract``."""
    project.add("0001_users", expand=expand)
    project.add("0002_drop", contract=contract)
    advance(project.config(), "0001_users", to=Phase.CONTRACT, yes=True)
    advance(project.config(), "0002_drop", to=Phase.SWITCH_WRITES)


def test_another_migrations_sync_trigger_needs_the_column(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    project.add(
        "0002_normalize", expand=NORMALIZE, contract=NORMALIZE_CONTRACT, manifest=NORMALIZE_RETIRES
    )
    project.add("0003_rename_email", manifest=RENAME_EMAIL)
    config = project.config()
    advance(config, "0001_users", to=Phase.CONTRACT, yes=True)
    advance(config, "0002_normalize", to=Phase.SWITCH_WRITES)
    advance(config, "0003_rename_email", to=Phase.SWITCH_WRITES)

    found = check(project, "0003_rename_email")

    assert found, "dropping users.email under 0002's trigger must be refused"
    first = found[0]
    assert first.removal.action == "drop column users.email"
    assert first.migration_id == "0002_normalize"
    assert "sync function users_email_normalized_sync on users" in first.needed_by
    assert "contract 0002_normalize first" in first.hint
    # The trigger is named once, under its migration, not again as a bare catalog finding.
    assert not [i for i in found if i.migration_id is None]
    # 0003's own sync trigger also reads email, but its contract drops it first.
    assert not any("expandctl_0003" in i.needed_by for i in found)

    advance(config, "0002_normalize", to=Phase.CONTRACT, yes=True)
    assert check(project, "0003_rename_email") == []


def test_a_pending_migrations_backfill_reading_the_column_refuses(project: Project) -> None:
    project.add("0001_users", expand=USERS)
    project.add("0002_drop_name", contract="ALTER TABLE users DROP COLUMN name;")
    project.add(
        "0003_initials",
        expand="ALTER TABLE users ADD COLUMN initial text;",
        expand_down="ALTER TABLE users DROP COLUMN initial;",
        manifest="""
        [backfill]
        table = "users"
        set = { initial = "left(name, 1)" }
        where = "initial IS NULL"
        """,
    )
    advance(project.config(), "0001_users", to=Phase.CONTRACT, yes=True)
    advance(project.config(), "0002_drop_name", to=Phase.SWITCH_WRITES)

    found = check(project, "0002_drop_name")

    assert [(i.migration_id, i.needed_by) for i in found] == [
        ("0003_initials", "migration 0003_initials: backfill of users")
    ]
    assert "still pending" in found[0].hint
    assert "backfill" in found[0].where


@pytest.mark.parametrize(
    ("contract", "expression"),
    [
        # a column of another table, read through a subquery
        ("ALTER TABLE orgs DROP COLUMN label;", "(SELECT o.label FROM orgs o WHERE o.id = 1)"),
        # a function the expression calls
        ("DROP FUNCTION label_of_org(int);", "label_of_org(1)"),
    ],
)
def test_a_backfill_reading_another_object_refuses_its_removal(
    project: Project, contract: str, expression: str
) -> None:
    project.add(
        "0001_users",
        expand=USERS
        + "CREATE TABLE orgs (id int PRIMARY KEY, label text);\n"
        + "CREATE FUNCTION label_of_org(int) RETURNS text LANGUAGE sql"
        + " AS $$ SELECT label FROM orgs WHERE id = $1 $$;\n",
    )
    project.add(
        "0002_drop",
        contract=contract,
        manifest='retires = ["function:label_of_org"]\n' if "FUNCTION" in contract else "",
    )
    project.add(
        "0003_org_label",
        expand="ALTER TABLE users ADD COLUMN org_label text;",
        expand_down="ALTER TABLE users DROP COLUMN org_label;",
        manifest=f"""
        [backfill]
        table = "users"
        set = {{ org_label = "{expression}" }}
        where = "org_label IS NULL"
        """,
    )
    advance(project.config(), "0001_users", to=Phase.CONTRACT, yes=True)
    advance(project.config(), "0002_drop", to=Phase.SWITCH_WRITES)

    found = check(project, "0002_drop")

    assert [(i.migration_id, i.needed_by) for i in found] == [
        ("0003_org_label", "migration 0003_org_label: backfill of users")
    ]


def test_a_view_on_the_column_refuses(project: Project) -> None:
    drop_project(project, "ALTER TABLE users DROP COLUMN name;")
    project.query("CREATE VIEW user_names AS SELECT id, name FROM users")
    found = check(project, "0002_drop")
    assert [i.needed_by for i in found] == ["view public.user_names"]
    assert "drop or change view public.user_names first" in found[0].hint
    project.query("CREATE MATERIALIZED VIEW emails AS SELECT email FROM users")
    assert [i.needed_by for i in check(project, "0002_drop")] == ["view public.user_names"]


def test_a_policy_on_the_column_refuses(project: Project) -> None:
    drop_project(project, "ALTER TABLE users DROP COLUMN name;")
    project.query("CREATE POLICY named ON users USING (name <> '')")
    assert [i.needed_by for i in check(project, "0002_drop")] == ["policy named on public.users"]


def test_a_generated_column_refuses(project: Project) -> None:
    drop_project(project, "ALTER TABLE users DROP COLUMN name;")
    project.query(
        "ALTER TABLE users ADD COLUMN name_upper text GENERATED ALWAYS AS (upper(name)) STORED"
    )
    assert [i.needed_by for i in check(project, "0002_drop")] == [
        "generated column users.name_upper"
    ]


def test_a_multi_column_index_refuses_and_a_single_column_one_does_not(project: Project) -> None:
    drop_project(project, "ALTER TABLE users DROP COLUMN name;")
    project.query("CREATE INDEX users_name_idx ON users (name)")
    assert check(project, "0002_drop") == []  # it only serves the dropped column
    project.query("CREATE INDEX users_email_name_idx ON users (email, name)")
    found = check(project, "0002_drop")
    assert [i.needed_by for i in found] == ["index public.users_email_name_idx (on more than name)"]


def test_a_multi_column_unique_constraint_refuses(project: Project) -> None:
    drop_project(project, "ALTER TABLE users DROP COLUMN name;")
    project.query("ALTER TABLE users ADD CONSTRAINT users_email_name_key UNIQUE (email, name)")
    found = check(project, "0002_drop")
    assert [i.needed_by for i in found] == ["constraint users_email_name_key on public.users"]


def test_a_foreign_key_from_another_table_refuses_dropping_the_column_or_table(
    project: Project,
) -> None:
    expand = (
        USERS
        + """
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
    CREATE TABLE invites (id bigint PRIMARY KEY, email text REFERENCES users (email));
    """
    )
    drop_project(project, "ALTER TABLE users DROP COLUMN email;", expand=expand)
    fk = "foreign key invites_email_fkey from public.invites"
    assert [i.needed_by for i in check(project, "0002_drop")] == [fk]

    project.add("0003_drop_users", contract="DROP TABLE users;")
    found = check(project, "0003_drop_users")
    assert fk in [i.needed_by for i in found]
    # Another pending migration still to run on users is named too.
    assert "0002_drop" in {i.migration_id for i in found}

    project.add("0004_drop_key", contract="ALTER TABLE users DROP CONSTRAINT users_email_key;")
    assert [i.needed_by for i in check(project, "0004_drop_key")] == [
        "constraint invites_email_fkey on table invites"
    ]


def test_a_publication_column_list_refuses(project: Project) -> None:
    drop_project(project, "ALTER TABLE users DROP COLUMN name;")
    if project.one("SELECT current_setting('server_version_num')::int") < 150000:
        pytest.skip("publication column lists need PostgreSQL 15")
    project.query("CREATE PUBLICATION user_feed FOR TABLE users (id, name)")
    try:
        assert [i.needed_by for i in check(project, "0002_drop")] == [
            "publication user_feed (publishes name)"
        ]
    finally:
        project.query("DROP PUBLICATION user_feed")


def test_a_live_trigger_function_using_the_column_refuses(project: Project) -> None:
    drop_project(project, "ALTER TABLE users DROP COLUMN name;")
    project.query(
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN NEW.name := trim(NEW.name); RETURN NEW; END $$;"
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()"
    )
    found = check(project, "0002_drop")
    assert [i.needed_by for i in found] == [
        "trigger users_touch on public.users (function touch uses name)"
    ]
    assert found[0].where == "live catalog"


def test_the_same_plan_dropping_the_trigger_first_is_not_refused(project: Project) -> None:
    trigger = (
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN NEW.name := trim(NEW.name); RETURN NEW; END $$;"
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();"
    )
    drop_first = "DROP TRIGGER users_touch ON users; ALTER TABLE users DROP COLUMN name;"
    drop_project(project, drop_first, expand=USERS + trigger)
    assert check(project, "0002_drop") == []

    # Control: the same statements in the other order leave the trigger reading a lost column.
    folder = project.migrations / "0002_drop"
    (folder / "contract.sql").write_text(
        "ALTER TABLE users DROP COLUMN name; DROP TRIGGER users_touch ON users;"
    )
    found = check(project, "0002_drop")
    assert [i.needed_by for i in found] == [
        "trigger users_touch on public.users (function touch uses name)"
    ]


def test_a_dropped_function_still_used_by_a_trigger_refuses(project: Project) -> None:
    trigger = (
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RETURN NEW; END $$;"
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();"
    )
    drop_project(project, "DROP FUNCTION touch();", expand=USERS + trigger)
    assert [i.needed_by for i in check(project, "0002_drop")] == [
        "trigger users_touch on table users"
    ]


# --- removals(): what a plan drops, renames or retypes --------------------------------------


CONTRACT_SQL = [
    ("ALTER TABLE users DROP COLUMN IF EXISTS email", "drop column users.email"),
    (
        'ALTER TABLE "users" RENAME COLUMN name TO full_name',
        "rename column users.name to full_name",
    ),
    ("ALTER TABLE app.users ALTER COLUMN age TYPE bigint", "retype column users.age"),
    ("DROP TABLE IF EXISTS orgs, teams CASCADE", "drop table orgs|drop table teams"),
    ("DROP FUNCTION users_sync()", "drop function users_sync"),
    ("DROP TRIGGER users_sync ON users", "drop trigger users_sync on users"),
    ("DROP INDEX CONCURRENTLY IF EXISTS users_email_idx", "drop index users_email_idx"),
    (
        "ALTER TABLE users DROP CONSTRAINT users_age_check",
        "drop constraint users_age_check on users",
    ),
    ("DROP TYPE mood", "drop type mood"),
    ("ALTER TABLE users RENAME TO people", "rename table users to people"),
    ("DROP VIEW active_users", "drop view active_users"),
    ("ALTER TABLE users ADD COLUMN x int", ""),
    ("ALTER TABLE users ALTER COLUMN x SET NOT NULL", ""),
]


@pytest.mark.parametrize(("sql", "expected"), CONTRACT_SQL, ids=[s for s, _ in CONTRACT_SQL])
def test_removals_reads_typical_contract_sql(sql: str, expected: str) -> None:
    plan = PhasePlan(
        migration_id="0001_x",
        phase=Phase.CONTRACT,
        direction=Direction.FORWARD,
        steps=[
            SqlStep(sql="SELECT 1", source="contract.sql", line=1),
            SqlStep(sql=sql, source="contract.sql", line=3),
        ],
    )
    found = removals(plan)
    assert "|".join(r.action for r in found) == expected
    assert all(r.step_index == 1 and r.where == "contract.sql:3" for r in found)


def test_removals_keep_the_schema_and_skip_non_sql_steps() -> None:
    plan = PhasePlan(
        migration_id="0001_x",
        phase=Phase.CONTRACT,
        direction=Direction.FORWARD,
        steps=[SqlStep(sql="ALTER TABLE app.users DROP COLUMN email", source="operation 2")],
    )
    (only,) = removals(plan)
    assert (only.schema_name, only.table, only.name) == ("app", "users", "email")
    assert only.where == "operation 2 (step 1)"


def test_an_update_of_trigger_on_the_column_refuses(project: Project) -> None:
    trigger = (
        "CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RETURN NEW; END $$;"
        "CREATE TRIGGER users_audit AFTER UPDATE OF name ON users"
        " FOR EACH ROW EXECUTE FUNCTION audit();"
    )
    drop_project(project, "ALTER TABLE users DROP COLUMN name;", expand=USERS + trigger)
    assert [i.needed_by for i in check(project, "0002_drop")] == [
        "trigger users_audit on public.users (fires on UPDATE OF name)"
    ]


def test_dropping_a_type_a_column_still_uses_refuses(project: Project) -> None:
    expand = (
        "CREATE TYPE mood AS ENUM ('ok', 'sad');"
        + USERS
        + ("ALTER TABLE users ADD COLUMN mood mood;")
    )
    drop_project(project, "DROP TYPE mood;", expand=expand)
    assert [i.needed_by for i in check(project, "0002_drop")] == ["column mood of table users"]


def test_renaming_a_table_a_function_body_names_refuses(project: Project) -> None:
    function = (
        "CREATE FUNCTION user_count() RETURNS bigint LANGUAGE plpgsql AS $$"
        " BEGIN RETURN (SELECT count(*) FROM users); END $$;"
    )
    drop_project(project, "ALTER TABLE users RENAME TO people;", expand=USERS + function)
    assert [i.needed_by for i in check(project, "0002_drop")] == [
        "function user_count() (its body uses users)"
    ]


def test_dropping_a_foreign_key_is_not_blocked_by_its_own_internal_triggers(
    project: Project,
) -> None:
    """An FK's RI triggers depend on the constraint: they go with it, they do not need it."""
    project.add(
        "0001_users",
        expand=USERS + "CREATE TABLE teams (id bigint PRIMARY KEY);\n"
        "ALTER TABLE users ADD COLUMN team_id bigint REFERENCES teams (id);\n",
    )
    project.add(
        "0002_drop_fk",
        contract="ALTER TABLE users DROP CONSTRAINT users_team_id_fkey;",
        manifest='retires = ["constraint:users_team_id_fkey"]\n',
    )
    advance(project.config(), "0001_users", to=Phase.CONTRACT, yes=True)
    advance(project.config(), "0002_drop_fk", to=Phase.SWITCH_WRITES)
    assert check(project, "0002_drop_fk") == []
    advance(project.config(), "0002_drop_fk", to=Phase.CONTRACT, yes=True)
