"""Every Bad and Good example in docs/rules.md is real PostgreSQL.

Each example runs, statement by statement in autocommit (as expandctl runs
CONCURRENTLY statements), in a fresh database holding the tables the examples
use. Bad examples are hazards, not syntax errors: they run too — except where
the hazard *is* the failure (CONCURRENTLY inside a transaction block), which
must fail with the error the rule predicts.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from expandctl.lint import RULES
from expandctl.lint.docs import parse_docstring
from expandctl.lint.rule import Rule
from expandctl.model.sql_split import split_statements
from tests.conftest import PgDatabase

SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text, name text, age integer, status text DEFAULT 'active', email_norm text
);
INSERT INTO users (email, name, age) VALUES ('a@example.com', 'Ada', 36), ('b@x.org', 'Bo', 7);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);
CREATE TABLE sessions (id bigint PRIMARY KEY, expires_at timestamptz);
CREATE TABLE audit_log (id bigint PRIMARY KEY, created_at timestamptz);
CREATE TABLE legacy_sessions (id bigint PRIMARY KEY);
CREATE VIEW active_users AS SELECT id, email FROM users;
CREATE SCHEMA accounts;
"""
_STATS_VIEW = "CREATE VIEW legacy_session_stats AS SELECT count(*) AS n FROM legacy_sessions"
# What a Bad example needs beyond SCHEMA (its Good twin creates it itself).
EXTRA = {
    ("L102", "bad"): "CREATE INDEX users_email_idx ON users (email);",
    ("L102", "good"): "CREATE INDEX users_email_idx ON users (email);",
    ("L103", "bad"): "CREATE INDEX users_email_idx ON users (email);",
    ("L103", "good"): "CREATE INDEX users_email_idx ON users (email);",
    ("U501", "bad"): "CREATE DOMAIN positive_int AS integer;",
    ("D303", "bad"): _STATS_VIEW,
    ("D303", "good"): _STATS_VIEW,
}
# The hazard is an error: the SQLSTATE PostgreSQL must answer with.
EXPECTED_FAILURE = {
    ("T401", "bad"): "25001",  # active_sql_transaction
    ("C207", "bad"): "23502",  # not_null_violation: the table has rows
    # input rules: the Bad example is not SQL PostgreSQL (15+) can parse
    ("I701", "bad"): "42601",  # syntax_error
    ("I702", "bad"): "42601",
    ("U503", "bad"): "42601",  # WITH OIDS: valid only up to PostgreSQL 11
}
_CREATES_TABLE = re.compile(r"CREATE TABLE (\w+)", re.I)

CASES = [(rule, which) for rule in RULES for which in ("bad", "good")]


@pytest.mark.db
@pytest.mark.parametrize(("rule", "which"), CASES, ids=[f"{r.id}-{w}" for r, w in CASES])
def test_example_runs_on_postgres(pg_database: PgDatabase, rule: Rule, which: str) -> None:
    rule_id = rule.id
    example = parse_docstring(rule)[which]
    with pg_database.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
        for table in _CREATES_TABLE.findall(example):
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        if extra := EXTRA.get((rule_id, which)):
            conn.execute(extra)
        expected = EXPECTED_FAILURE.get((rule_id, which))
        try:
            for statement in split_statements(example):
                conn.execute(statement.text)
        except psycopg.Error as exc:
            assert expected is not None, f"{rule_id} {which} example failed: {exc}"
            assert exc.sqlstate == expected
        else:
            assert expected is None, f"{rule_id} {which} example should fail with {expected}"
