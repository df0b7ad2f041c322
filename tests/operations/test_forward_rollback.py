"""Every operation, on a real database: each phase forward, undone, redone; then the end state.

The phases run through the real engine (``advance`` / ``rollback`` of a
one-migration project). After each reversible phase is rolled back the catalog
must equal its snapshot from before the phase; after contract the data must
have the new shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PgDatabase
from tests.operations import sample_ops as sample
from tests.operations.schema import create_schema
from tests.operations.support import (
    MIGRATION_ID,
    forward_rollback_forward,
    operation_project,
    query,
)

pytestmark = pytest.mark.db

Check = Callable[[str], None]


@dataclass(frozen=True)
class Case:
    id: str
    ops: list[dict[str, Any]]
    check: Check


def columns(dsn: str, table: str = "users") -> dict[str, tuple[str, bool]]:
    rows = query(
        dsn,
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        table,
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def constraints(dsn: str, table: str = "users") -> dict[str, tuple[str, bool]]:
    rows = query(
        dsn,
        "SELECT conname, contype::text, convalidated FROM pg_constraint"
        " WHERE conrelid = %s::regclass",
        table,
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def index_names(dsn: str) -> set[str]:
    return {r[0] for r in query(dsn, "SELECT indexname FROM pg_indexes WHERE schemaname='public'")}


def no_helpers_left(dsn: str) -> None:
    # In the application's schema (the engine's own state schema has its own trigger).
    public = "'public'::regnamespace"
    assert (
        query(
            dsn,
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            f" WHERE NOT t.tgisinternal AND c.relnamespace = {public}",
        )
        == []
    )
    assert query(dsn, f"SELECT proname FROM pg_proc WHERE pronamespace = {public}") == []
    assert not any(name.startswith("expandctl") for name in constraints(dsn))


def check_rename(dsn: str) -> None:
    cols = columns(dsn)
    assert "name" not in cols
    assert cols["full_name"] == ("text", True)
    assert query(dsn, "SELECT full_name FROM users WHERE id = 1") == [("First1 Last1",)]
    no_helpers_left(dsn)


def check_split(dsn: str) -> None:
    cols = columns(dsn)
    assert "name" not in cols
    assert cols["first_name"] == ("text", True)
    assert query(dsn, "SELECT first_name, last_name FROM users WHERE id = 12") == [
        ("First12", "Last12")
    ]
    no_helpers_left(dsn)


def check_bigint(dsn: str) -> None:
    cols = columns(dsn)
    assert "age" not in cols
    assert cols["age_big"] == ("bigint", False)
    assert query(dsn, "SELECT count(*) FROM users WHERE age_big IS NULL") == [(300 // 7,)]
    no_helpers_left(dsn)


def check_add_column(dsn: str) -> None:
    assert columns(dsn)["status"] == ("text", True)
    assert query(dsn, "SELECT count(*) FROM users WHERE status = 'active'") == [(300,)]
    no_helpers_left(dsn)


def check_set_not_null(dsn: str) -> None:
    assert columns(dsn)["nickname"] == ("text", True)
    assert query(dsn, "SELECT count(*) FROM users WHERE nickname = 'anon'") == [(100,)]
    no_helpers_left(dsn)


def check_drop_not_null(dsn: str) -> None:
    assert columns(dsn)["email"] == ("text", False)


def check_add_check(dsn: str) -> None:
    assert constraints(dsn)["users_age_positive"] == ("c", True)


def check_foreign_key(dsn: str) -> None:
    assert constraints(dsn)["users_org_id_fkey"] == ("f", True)


def check_unique(dsn: str) -> None:
    assert constraints(dsn)["users_nickname_key"] == ("u", True)


def check_create_index(dsn: str) -> None:
    assert "users_age_idx" in index_names(dsn)


def check_drop_index(dsn: str) -> None:
    assert "users_email_key" not in index_names(dsn)


def check_drop_column(dsn: str) -> None:
    assert "nickname" not in columns(dsn)


def check_create_table(dsn: str) -> None:
    assert set(columns(dsn, "teams")) == {"id", "name"}


def check_drop_table(dsn: str) -> None:
    assert query(dsn, "SELECT to_regclass('orgs')") == [(None,)]


def check_rename_table(dsn: str) -> None:
    assert query(dsn, "SELECT to_regclass('people')::text, to_regclass('users')") == [
        ("people", None)
    ]
    assert query(dsn, "SELECT count(*) FROM people") == [(300,)]


def check_sql(dsn: str) -> None:
    assert "users_created_idx" in index_names(dsn)


def check_combined(dsn: str) -> None:
    check_rename(dsn)
    check_add_column(dsn)
    check_create_index(dsn)
    assert constraints(dsn)["users_age_positive"] == ("c", True)


COMBINED = [sample.ADD_STATUS, sample.RENAME_NAME, sample.AGE_INDEX, sample.AGE_POSITIVE]

CASES = [
    Case("combined_on_one_table", COMBINED, check_combined),
    Case("rename_column", [sample.RENAME_NAME], check_rename),
    Case("replace_column", [sample.SPLIT_NAME], check_split),
    Case("change_column_type", [sample.AGE_TO_BIGINT], check_bigint),
    Case("add_column", [sample.ADD_STATUS], check_add_column),
    Case("set_not_null", [sample.NICKNAME_NOT_NULL], check_set_not_null),
    Case("drop_not_null", [sample.EMAIL_NULLABLE], check_drop_not_null),
    Case("add_check", [sample.AGE_POSITIVE], check_add_check),
    Case(
        "add_foreign_key",
        [
            {
                "op": "add_foreign_key",
                "table": "users",
                "name": "users_org_id_fkey",
                "columns": ["org_id"],
                "references": "orgs",
                "references_columns": ["id"],
                "on_delete": "set null",
            }
        ],
        check_foreign_key,
    ),
    Case(
        "add_unique",
        [
            {
                "op": "add_unique",
                "table": "users",
                "name": "users_nickname_key",
                "columns": ["nickname"],
            }
        ],
        check_unique,
    ),
    Case(
        "create_index",
        [
            {
                "op": "create_index",
                "table": "users",
                "name": "users_age_idx",
                "columns": ["age"],
                "where": "age IS NOT NULL",
            }
        ],
        check_create_index,
    ),
    Case("drop_index", [{"op": "drop_index", "name": "users_email_key"}], check_drop_index),
    Case("drop_column", [sample.DROP_NICKNAME], check_drop_column),
    Case("create_table", [sample.CREATE_TEAMS], check_create_table),
    Case(
        "drop_table",
        [
            {"op": "drop_column", "table": "users", "column": "org_id"},
            {"op": "drop_table", "table": "orgs"},
        ],
        check_drop_table,
    ),
    Case("rename_table", [sample.USERS_TO_PEOPLE], check_rename_table),
    Case("sql", [sample.SQL_CREATED_AT_INDEX], check_sql),
    Case(
        "retype_column",  # more cases: test_in_place_type.py
        [
            {
                "op": "retype_column",
                "table": "users",
                "column": "age",
                "from_type": "integer",
                "type": "bigint",
            }
        ],
        lambda dsn: _assert(columns(dsn)["age"] == ("bigint", False)),
    ),
]


def _assert(condition: bool) -> None:
    assert condition


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward_rollback_forward_then_contract(
    pg_database: PgDatabase, tmp_path: Path, case: Case
) -> None:
    create_schema(pg_database.dsn)
    config = operation_project(tmp_path, pg_database, case.ops)
    forward_rollback_forward(config, pg_database.dsn)
    assert query(
        pg_database.dsn, "SELECT state FROM expandctl.migrations WHERE id = %s", MIGRATION_ID
    ) == [("contract",)]
    case.check(pg_database.dsn)
    assert (
        query(
            pg_database.dsn,
            "SELECT count(*) FROM pg_class WHERE relname = 'users' OR relname = 'people'",
        )[0][0]
        >= 1
    )


def test_every_operation_has_a_case() -> None:
    from expandctl.model.ops.registry import OPERATION_NAMES

    assert set(OPERATION_NAMES) <= {c.id for c in CASES}
