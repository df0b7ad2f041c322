"""retype_column through the real engine: every phase forward, undone, redone; the end state.

After each reversible phase is rolled back the catalog equals its snapshot
from before the phase (forward_rollback_forward); after contract the column
has its new type under its old name, with everything it had: primary key,
identity or serial sequence (widened), foreign keys from other tables,
indexes, unique and check constraints, defaults.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from expandctl.commands.advance import advance
from expandctl.errors import ExpandctlError
from tests.conftest import PROJECT_ROOT, PgDatabase
from tests.operations.in_place_schema import (
    HANDLE_TO_TEXT,
    SEEN_AT_TO_TIMESTAMPTZ,
    create_columns_schema,
    create_pk_schema,
    pk_operation,
)
from tests.operations.support import (
    MIGRATION_ID,
    forward_rollback_forward,
    manifest,
    operation_project,
    query,
)

pytestmark = pytest.mark.db


def column_type(dsn: str, table: str, column: str) -> str:
    return str(
        query(
            dsn,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
            table,
            column,
        )[0][0]
    )


def no_helpers_left(dsn: str) -> None:
    public = "'public'::regnamespace"
    assert query(dsn, f"SELECT proname FROM pg_proc WHERE pronamespace = {public}") == []
    assert (
        query(
            dsn,
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            f" WHERE NOT t.tgisinternal AND c.relnamespace = {public}",
        )
        == []
    )
    leftovers = query(
        dsn,
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relname LIKE 'expandctl%%'"
        " UNION ALL SELECT attname FROM pg_attribute WHERE attname LIKE 'expandctl%%'"
        " AND attrelid IN (SELECT oid FROM pg_class WHERE relkind = 'r'"
        " AND relnamespace = 'public'::regnamespace)"
        " UNION ALL SELECT conname FROM pg_constraint WHERE conname LIKE 'expandctl%%'"
        " AND connamespace = 'public'::regnamespace",
    )
    assert leftovers == [], leftovers


@pytest.mark.parametrize("kind", ["serial", "identity"])
def test_primary_key_and_its_foreign_keys_forward_rollback_forward(
    pg_database: PgDatabase, tmp_path: Path, kind: str
) -> None:
    dsn = pg_database.dsn
    create_pk_schema(dsn, kind)
    config = operation_project(tmp_path, pg_database, [pk_operation(kind)])
    forward_rollback_forward(config, dsn)
    assert query(dsn, "SELECT state FROM expandctl.migrations WHERE id = %s", MIGRATION_ID) == [
        ("contract",)
    ]
    assert column_type(dsn, "accounts", "id") == "bigint"
    assert column_type(dsn, "orders", "account_id") == "bigint"
    assert column_type(dsn, "payments", "account_id") == "bigint"
    constraints = dict(
        query(
            dsn,
            "SELECT conname, pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint"
            " WHERE conrelid IN ('accounts'::regclass, 'orders'::regclass, 'payments'::regclass)"
            " AND contype IN ('p', 'f')",
        )
    )
    assert constraints["accounts_pkey"] == "PRIMARY KEY (id) true"
    assert constraints["orders_account_id_fkey"] == (
        "FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE true"
    )
    assert constraints["payments_account_id_fkey"] == (
        "FOREIGN KEY (account_id) REFERENCES accounts(id) true"
    )
    # The sequence moved with the column and is bigint now; the default/identity too.
    assert query(
        dsn,
        "SELECT seqtypid::regtype::text, pg_get_serial_sequence('accounts', 'id')"
        " FROM pg_sequence WHERE seqrelid = 'accounts_id_seq'::regclass",
    ) == [("bigint", "public.accounts_id_seq")]
    identity = query(
        dsn,
        "SELECT attidentity FROM pg_attribute WHERE attrelid ="
        " 'accounts'::regclass AND attname = 'id'",
    )[0][0]
    assert identity == ("d" if kind == "identity" else "")
    assert query(
        dsn, "SELECT indexdef FROM pg_indexes WHERE indexname = 'orders_account_id_idx'"
    ) == [("CREATE INDEX orders_account_id_idx ON public.orders USING btree (account_id)",)]
    assert query(dsn, "SELECT count(*) FROM accounts") == [(2000,)]
    assert query(dsn, "SELECT count(*) FROM orders o JOIN accounts a ON a.id = o.account_id") == [
        (2000,)
    ]
    # The ids continue from the sequence.
    assert query(dsn, "INSERT INTO accounts (email) VALUES ('next@x') RETURNING id") == [(2001,)]
    no_helpers_left(dsn)


def test_ordinary_columns_forward_rollback_forward(pg_database: PgDatabase, tmp_path: Path) -> None:
    dsn = pg_database.dsn
    create_columns_schema(dsn)
    config = operation_project(tmp_path, pg_database, [HANDLE_TO_TEXT, SEEN_AT_TO_TIMESTAMPTZ])
    before = query(dsn, "SELECT id, handle, seen_at FROM profiles ORDER BY id")
    forward_rollback_forward(config, dsn)
    assert column_type(dsn, "profiles", "handle") == "text"
    assert column_type(dsn, "profiles", "seen_at") == "timestamp with time zone"
    after = query(dsn, "SELECT id, handle, seen_at AT TIME ZONE 'UTC' FROM profiles ORDER BY id")
    assert after == before  # the same instants, read back in UTC
    defs = dict(
        query(
            dsn,
            "SELECT conname, pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint"
            " WHERE conrelid = 'profiles'::regclass",
        )
    )
    assert defs["profiles_handle_key"] == "UNIQUE (handle) true"
    assert defs["profiles_handle_check"] == "CHECK ((handle <> ''::text)) true"
    assert query(
        dsn, "SELECT indexdef FROM pg_indexes WHERE indexname = 'profiles_seen_at_idx'"
    ) == [("CREATE INDEX profiles_seen_at_idx ON public.profiles USING btree (seen_at)",)]
    defaults = dict(
        query(
            dsn,
            "SELECT attname, pg_get_expr(adbin, adrelid) FROM pg_attrdef"
            " JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum"
            " WHERE adrelid = 'profiles'::regclass",
        )
    )
    assert defaults["handle"] == "'anon'::text"
    assert defaults["seen_at"] == "now()"
    assert query(
        dsn,
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'profiles'::regclass"
        " AND attname IN ('handle', 'seen_at')",
    ) == [(True,), (True,)]
    # The default still fills inserts; the unique constraint and the check still hold.
    assert query(dsn, "INSERT INTO profiles (note) VALUES ('x') RETURNING handle") == [("anon",)]
    with pytest.raises(Exception, match="profiles_handle_key"):
        query(dsn, "INSERT INTO profiles (handle) VALUES ('h1')")
    with pytest.raises(Exception, match="profiles_handle_check"):
        query(dsn, "INSERT INTO profiles (handle) VALUES ('')")
    long = "x" * 100
    assert query(dsn, "INSERT INTO profiles (handle) VALUES (%s) RETURNING handle", long) == [
        (long,)
    ]
    no_helpers_left(dsn)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"referenced_by": [{"table": "orders", "column": "account_id"}]}, "referencing"),
        ({"from_type": "smallint"}, "is not of type smallint"),
        ({"sequence": None, "identity": None}, "owns a sequence"),
    ],
    ids=["undeclared-foreign-key", "wrong-type", "undeclared-sequence"],
)
def test_an_undeclared_or_wrong_fact_refuses_expand(
    pg_database: PgDatabase, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    """The manifest must describe the column exactly; a difference changes nothing."""
    dsn = pg_database.dsn
    create_pk_schema(dsn, "serial")
    op = {**pk_operation("serial"), **change}
    op = {k: v for k, v in op.items() if v is not None}
    config = operation_project(tmp_path, pg_database, [op])
    with pytest.raises(ExpandctlError, match=message):
        advance(config, MIGRATION_ID, yes=True)
    assert column_type(dsn, "accounts", "id") == "integer"
    assert query(
        dsn,
        "SELECT count(*) FROM pg_attribute WHERE attname LIKE 'expandctl%%'"
        " AND attrelid IN ('accounts'::regclass, 'orders'::regclass, 'payments'::regclass)",
    ) == [(0,)]


@pytest.mark.parametrize("pg_version", ["15", "18"])
def test_expandctl_lint_passes_every_phase_and_rollback(tmp_path: Path, pg_version: str) -> None:
    """``expandctl lint`` (the CI gate) on migrations using the operation: exit 0, no finding.
    Where a rule misjudges a step of the swap, the generated SQL carries an
    expandctl-ignore note saying why, and the gate checks that each note is used."""
    ops = {
        "0001_widen_serial": pk_operation("serial"),
        "0002_widen_identity": {
            **pk_operation("identity"),
            "table": "members",
            "primary_key": "members_pkey",
            "referenced_by": [{"table": "visits", "column": "member_id"}],
        },
        "0003_handle_to_text": HANDLE_TO_TEXT,
        "0004_seen_at_to_timestamptz": SEEN_AT_TO_TIMESTAMPTZ,
    }
    for migration_id, op in ops.items():
        folder = tmp_path / "migrations" / migration_id
        folder.mkdir(parents=True)
        (folder / "migration.toml").write_text(manifest([op]), encoding="utf-8")
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "expandctl", "lint", "--pg-version", pg_version, "migrations"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout, result.stdout


@pytest.mark.parametrize("pg_version", [15, 18])
@pytest.mark.parametrize(
    "op",
    [HANDLE_TO_TEXT, SEEN_AT_TO_TIMESTAMPTZ],
    ids=["varchar-to-text", "timestamp-to-timestamptz"],
)
def test_one_table_changes_pass_the_operation_lint_harness(
    tmp_path: Path, op: dict[str, object], pg_version: int
) -> None:
    """The harness every operation's generated SQL goes through (test_lint_gate)."""
    from tests.operations.test_lint_gate import findings_for

    assert findings_for(tmp_path, [op], pg_version) == []
