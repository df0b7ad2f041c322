"""The statement reader: positions, what counts as a statement, and pinned sqlglot behaviour.

The sqlglot pins document *why* DDL is read from tokens: if a future sqlglot
parses these forms, the pin fails and the reader can be simplified.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from expandctl.lint import actions as a
from expandctl.lint import lint_sql
from expandctl.lint.source import read_actions, read_statements
from expandctl.model.phases import Phase


def test_positions_are_one_based_and_skip_leading_comments() -> None:
    text = "-- note\n\n  /* c */ CREATE INDEX i ON t (a);\nSELECT 1;\n\tTRUNCATE t;"
    statements = read_statements(text)
    assert [(s.line, s.column) for s in statements] == [(3, 11), (4, 1), (5, 2)]
    findings = lint_sql(text, phase=Phase.EXPAND, source_name="f.sql")
    assert [(f.rule_id, f.line, f.column) for f in findings] == [("L101", 3, 11), ("D301", 5, 2)]
    assert findings[0].source_line == "  /* c */ CREATE INDEX i ON t (a);"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'DROP TABLE users; TRUNCATE users'",
        "SELECT E'it\\'s; DROP TABLE users'",
        "SELECT $body$ DROP TABLE users; $body$",
        'SELECT 1 AS "DROP TABLE users;"',
        "SELECT 1 /* DROP TABLE users; */",
    ],
)
def test_keywords_in_strings_and_comments_are_not_statements(sql: str) -> None:
    assert lint_sql(sql, phase=Phase.EXPAND, source_name="f.sql") == []
    assert len(read_statements(sql)) == 1


def test_quoted_and_qualified_names() -> None:
    [action] = read_actions('ALTER TABLE "Sales"."Orders" DROP COLUMN "Total Amount"')
    assert isinstance(action, a.DropColumn)
    assert (action.table, action.column) == ('"Sales"."Orders"', '"Total Amount"')
    [action] = read_actions('ALTER TABLE "users" DROP COLUMN Name')
    assert (action.table, action.column) == ("users", "name")  # type: ignore[attr-defined]


def test_multi_clause_alter_table_is_one_action_per_clause() -> None:
    actions = read_actions(
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL, ADD COLUMN a int DEFAULT 0, "
        "DROP COLUMN b CASCADE, VALIDATE CONSTRAINT c"
    )
    assert [type(x).__name__ for x in actions] == [
        "SetNotNull", "AddColumn", "DropColumn", "ValidateConstraint",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("VACUUM FULL users", a.Rewrite),
        ("LOCK users", a.LockTable),
        ("REINDEX TABLE users", a.Reindex),
        ("DO $$ BEGIN END $$", a.Dynamic),
        ("ALTER TYPE mood ADD VALUE 'x'", a.EnumAddValue),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", a.Begin),
        ("WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT 1", a.WriteRows),
        ("CREATE TABLE t (id int) PARTITION BY RANGE (id)", a.CreateTable),
        ("FROBNICATE", a.Unknown),
        ("CREATE WIDGET w", a.Unknown),
        ("ALTER TABLE t FROB x", a.Unknown),
    ],
)
def test_reader_classifies(sql: str, kind: type[a.Action]) -> None:
    assert isinstance(read_actions(sql)[0], kind)


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE users VALIDATE CONSTRAINT c",
        "ALTER TABLE users ADD CONSTRAINT u UNIQUE USING INDEX i",
        "ALTER TYPE mood ADD VALUE 'x'",
        "VACUUM FULL users",
        "REINDEX INDEX i",
        "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
        "ALTER TABLE users SET SCHEMA other",
        "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
        "ALTER TABLE users ADD CONSTRAINT c CHECK (x > 0) NOT VALID, ALTER COLUMN z DROP DEFAULT",
    ],
)
def test_pin_sqlglot_keeps_these_as_opaque_commands(sql: str) -> None:
    assert isinstance(sqlglot.parse_one(sql, read="postgres"), exp.Command)


@pytest.mark.parametrize(
    "sql", ["CLUSTER users USING users_pkey", "DROP INDEX CONCURRENTLY IF EXISTS a, b"]
)
def test_pin_sqlglot_cannot_parse_these(sql: str) -> None:
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse_one(sql, read="postgres")


def test_pin_sqlglot_misreads_start_transaction() -> None:
    # Parsed as a column alias: the reader must not trust the parse for it.
    assert not isinstance(sqlglot.parse_one("START TRANSACTION", read="postgres"), exp.Transaction)
    assert isinstance(read_actions("START TRANSACTION")[0], a.Begin)


def test_unterminated_string_is_a_syntax_error_not_passed() -> None:
    findings = lint_sql("SELECT 'oops;", phase=Phase.EXPAND, source_name="f.sql")
    assert [f.rule_id for f in findings] == ["I701"]
    assert "unterminated quoted string" in findings[0].message
