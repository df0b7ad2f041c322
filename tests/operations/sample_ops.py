"""One operation per kind on the example schema (schema.py), as manifest tables.

The forward/rollback suite and the zero-downtime suite prove the very same
operations (and test_planning plans them), so each is written once here.
Never mutate one: derive a variant with ``{**RENAME_NAME, "unique": True}``.
"""

from __future__ import annotations

from typing import Any

Raw = dict[str, Any]

RENAME_NAME: Raw = {
    "op": "rename_column",
    "table": "users",
    "column": "name",
    "to": "full_name",
    "type": "text",
    "not_null": True,
}
SPLIT_NAME: Raw = {
    "op": "replace_column",
    "table": "users",
    "old": [{"name": "name", "down": "first_name || ' ' || last_name"}],
    "new": [
        {"name": "first_name", "type": "text", "up": "split_part(name, ' ', 1)", "not_null": True},
        {
            "name": "last_name",
            "type": "text",
            "up": "substr(name, length(split_part(name, ' ', 1)) + 2)",
        },
    ],
}
AGE_TO_BIGINT: Raw = {
    "op": "change_column_type",
    "table": "users",
    "column": "age",
    "to": "age_big",
    "type": "bigint",
    "down": "CAST(age_big AS integer)",
}
ADD_STATUS: Raw = {
    "op": "add_column",
    "table": "users",
    "column": "status",
    "type": "text",
    "default": "'active'",
    "not_null": True,
}
NICKNAME_NOT_NULL: Raw = {
    "op": "set_not_null",
    "table": "users",
    "column": "nickname",
    "default": "'anon'",
}
EMAIL_NULLABLE: Raw = {"op": "drop_not_null", "table": "users", "column": "email"}
AGE_POSITIVE: Raw = {
    "op": "add_check",
    "table": "users",
    "name": "users_age_positive",
    "check": "age > 0",
}
AGE_INDEX: Raw = {
    "op": "create_index",
    "table": "users",
    "name": "users_age_idx",
    "columns": ["age"],
}
DROP_NICKNAME: Raw = {"op": "drop_column", "table": "users", "column": "nickname"}
CREATE_TEAMS: Raw = {
    "op": "create_table",
    "table": "teams",
    "columns": [
        {"name": "id", "type": "bigint", "identity": True, "not_null": True},
        {"name": "name", "type": "text", "not_null": True},
    ],
    "primary_key": ["id"],
}
USERS_TO_PEOPLE: Raw = {"op": "rename_table", "table": "users", "to": "people"}
SQL_CREATED_AT_INDEX: Raw = {
    "op": "sql",
    "expand": "CREATE INDEX CONCURRENTLY users_created_idx ON users (created_at)",
    "expand.down": "DROP INDEX CONCURRENTLY IF EXISTS users_created_idx",
}
