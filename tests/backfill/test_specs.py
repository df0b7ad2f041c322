"""Bad specs get clear errors before any row is touched."""

from __future__ import annotations

import pytest

from expandctl.engine.backfill import check_expression
from expandctl.errors import ManifestError
from tests.backfill.helpers import make_users, run, spec, wrong_rows
from tests.conftest import PgDatabase


@pytest.mark.parametrize(
    "text",
    [
        "lower(email); DROP TABLE users",
        "SELECT lower(email)",
        "(WITH gone AS (DELETE FROM users RETURNING 1) SELECT 1)",
        "lower(email",
        "UPDATE users SET email = ''",
    ],
)
def test_statements_and_data_changes_are_not_expressions(text: str) -> None:
    with pytest.raises(ManifestError) as excinfo:
        check_expression(text, what="set.email_norm")
    assert "set.email_norm" in excinfo.value.message


@pytest.mark.parametrize(
    "text",
    [
        "lower(email)",
        "coalesce(a, b) || '-' || c::text",
        "CASE WHEN x > 0 THEN 'p' ELSE 'n' END",
        "(SELECT name FROM countries c WHERE c.code = country_code)",
        "email_norm IS DISTINCT FROM lower(email) -- trailing comment",
    ],
)
def test_plain_expressions_pass(text: str) -> None:
    check_expression(text, what="where")


pytestmark_db = pytest.mark.db


@pytestmark_db
@pytest.mark.parametrize(
    ("overrides", "message", "hint"),
    [
        ({"set": {"email_nrom": "lower(email)"}}, "unknown column(s) email_nrom", "expand"),
        ({"set": {"email_norm": "lower(emial)"}}, 'column "emial" does not exist', "set"),
        ({"where": "email_norm <> 1 +"}, "where is not valid SQL", None),
        ({"key": ["nope"]}, "unknown column(s) nope", None),
        ({"key": ["email_norm"]}, "may be NULL", "primary key"),
        ({"set": {"id": "id + 1"}}, "may not change the batch key", None),
        ({"table": "no_such_table"}, "does not exist", "expand"),
    ],
)
def test_bad_specs_are_refused_before_any_batch(
    pg_database: PgDatabase, overrides: dict[str, object], message: str, hint: str | None
) -> None:
    make_users(pg_database, 100)
    with pytest.raises(ManifestError) as excinfo:
        run(pg_database, spec(**overrides))
    assert message in excinfo.value.message
    if hint:
        assert hint in (excinfo.value.hint or "")
    assert wrong_rows(pg_database) == 100


@pytestmark_db
def test_a_table_without_a_usable_key_says_what_to_add(pg_database: PgDatabase) -> None:
    with pg_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE logs (line text, line_upper text, code int UNIQUE)")
        conn.execute("INSERT INTO logs VALUES ('a', NULL, NULL)")
    with pytest.raises(ManifestError) as excinfo:
        run(
            pg_database,
            spec(table="logs", set={"line_upper": "upper(line)"}, where="line_upper IS NULL"),
        )
    assert "no primary key or unique NOT NULL key" in excinfo.value.message
    assert "ADD PRIMARY KEY" in (excinfo.value.hint or "")
