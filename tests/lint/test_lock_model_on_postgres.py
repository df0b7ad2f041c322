"""The lock and scan facts the rules rely on (context.strong_locks, L104, L106, L114).

Each statement runs in a transaction left open, so pg_locks shows every lock
it took on a user table, and pg_stat_xact_user_tables counts the sequential
scans it made; then it rolls back.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import PgDatabase

SCHEMA = """
DROP SCHEMA public CASCADE;
CREATE SCHEMA public;
CREATE TABLE users (id bigint PRIMARY KEY, email text);
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 100) g;
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);
INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g;
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
"""
SRE, AE = "ShareRowExclusiveLock", "AccessExclusiveLock"


def _run(db: PgDatabase, setup: str, statement: str) -> tuple[set[tuple[str, str]], set[str]]:
    """(table, lock mode) pairs held after ``statement``, and the tables it scanned."""
    with db.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
        if setup:
            conn.execute(setup)
    with db.connect() as conn:
        conn.execute(statement)
        locks = conn.execute(
            "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = pg_backend_pid() AND c.relkind IN ('r', 'm')"
            " AND c.relnamespace = 'public'::regnamespace"
        ).fetchall()
        scans = conn.execute(
            "SELECT relname FROM pg_stat_xact_user_tables WHERE seq_scan > 0"
        ).fetchall()
        conn.rollback()
    return {(str(t), str(m)) for t, m in locks}, {str(t) for (t,) in scans}


FK = "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)"


@pytest.mark.db
def test_add_foreign_key_takes_share_row_exclusive_on_both_and_scans(
    pg_database: PgDatabase,
) -> None:
    locks, scans = _run(pg_database, "", FK)
    assert {("orders", SRE), ("users", SRE)} <= locks
    assert not {m for _, m in locks} & {AE}
    assert scans == {"orders", "users"}
    locks, scans = _run(pg_database, "", FK + " NOT VALID")
    assert {("orders", SRE), ("users", SRE)} <= locks
    assert scans == set()


@pytest.mark.db
def test_add_column_references_without_default_needs_no_scan(pg_database: PgDatabase) -> None:
    add = "ALTER TABLE orders ADD COLUMN owner_id bigint REFERENCES users (id)"
    locks, scans = _run(pg_database, "", add)
    assert {("orders", AE), ("users", SRE)} <= locks
    assert ("users", AE) not in locks
    assert scans == set()
    _, scans = _run(pg_database, "", add.replace("bigint", "bigint DEFAULT 1"))
    assert scans == {"orders", "users"}  # a default to check: validation scans


@pytest.mark.db
def test_dropping_a_foreign_key_locks_the_referenced_table(pg_database: PgDatabase) -> None:
    locks, _ = _run(pg_database, FK, "ALTER TABLE orders DROP CONSTRAINT orders_user_fk")
    assert {("orders", AE), ("users", AE)} <= locks


@pytest.mark.db
def test_grant_and_revoke_take_no_table_lock(pg_database: PgDatabase) -> None:
    for statement in ("GRANT SELECT ON users TO PUBLIC", "REVOKE SELECT ON users FROM PUBLIC"):
        locks, scans = _run(pg_database, "", statement)
        # at most ACCESS SHARE (what a SELECT takes): blocks no reader or writer
        assert {m for _, m in locks} <= {"AccessShareLock"} and scans == set()


@pytest.mark.db
def test_trigger_locks(pg_database: PgDatabase) -> None:
    create = "CREATE TRIGGER t BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION noop()"
    locks, scans = _run(pg_database, "", create)
    assert locks == {("users", SRE)} and scans == set()
    locks, scans = _run(pg_database, create, "DROP TRIGGER t ON users")
    assert ("users", AE) in locks and scans == set()  # PostgreSQL 15: ACCESS EXCLUSIVE
    locks, _ = _run(pg_database, "", "DROP FUNCTION IF EXISTS noop() CASCADE")
    assert locks == set()


@pytest.mark.db
def test_set_not_null_on_a_column_added_to_an_existing_table_scans(
    pg_database: PgDatabase,
) -> None:
    setup = "ALTER TABLE users ADD COLUMN tenant text DEFAULT 't'"
    locks, scans = _run(pg_database, setup, "ALTER TABLE users ALTER COLUMN tenant SET NOT NULL")
    assert ("users", AE) in locks
    assert scans == {"users"}


@pytest.mark.db
def test_foreign_key_from_a_filled_new_table_scans_and_locks_the_existing_one(
    pg_database: PgDatabase,
) -> None:
    setup = "CREATE TABLE user_orders AS SELECT id, user_id FROM orders"
    statement = (
        "ALTER TABLE user_orders ADD CONSTRAINT user_orders_user_fk"
        " FOREIGN KEY (user_id) REFERENCES users (id)"
    )
    locks, scans = _run(pg_database, setup, statement)
    assert ("users", SRE) in locks
    assert {"user_orders", "users"} <= scans


@pytest.mark.db
def test_insert_select_scans_the_table_it_reads(pg_database: PgDatabase) -> None:
    setup = "CREATE TABLE users_copy (id bigint, email text)"
    locks, scans = _run(pg_database, setup, "INSERT INTO users_copy SELECT id, email FROM users")
    assert scans == {"users"}
    assert ("users", "AccessShareLock") in locks


@pytest.mark.db
def test_index_on_a_new_materialized_view_locks_only_the_view(pg_database: PgDatabase) -> None:
    setup = "CREATE MATERIALIZED VIEW user_emails AS SELECT id, email FROM users"
    locks, _ = _run(pg_database, setup, "CREATE UNIQUE INDEX ON user_emails (id)")
    assert locks == {("user_emails", "ShareLock")}


@pytest.mark.db
def test_concurrently_inside_a_do_block_is_rejected(pg_database: PgDatabase) -> None:
    with pg_database.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
        with pytest.raises(psycopg.errors.ActiveSqlTransaction):
            conn.execute(
                "DO $$ BEGIN EXECUTE 'CREATE INDEX CONCURRENTLY users_email_idx"
                " ON users (email)'; END $$"
            )


@pytest.mark.db
def test_create_table_with_a_foreign_key_locks_the_referenced_table(
    pg_database: PgDatabase,
) -> None:
    create = "CREATE TABLE user_notes (id bigint, user_id bigint REFERENCES users (id))"
    locks, scans = _run(pg_database, "", create)
    assert ("users", SRE) in locks and scans == set()
