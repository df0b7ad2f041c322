"""The DO-block reader: the operations' catalog checks are recognised, real work is not."""

from __future__ import annotations

import pytest

from expandctl.lint import actions as a
from expandctl.lint.do_block import is_catalog_check
from expandctl.lint.source import read_actions
from expandctl.lint.tokens import tokenize
from expandctl.model.ops import checks
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.sql_quote import dollar_quote, quote_literal

_SCHEMA, _TABLE, _COLUMN = "billing", 'Odd "table"', "it's"
GENERATED: list[CatalogCheck] = [
    checks.table_exists(_SCHEMA, _TABLE),
    checks.table_absent(None, _TABLE),
    checks.column_exists(_SCHEMA, _TABLE, _COLUMN),
    checks.column_absent(None, _TABLE, _COLUMN),
    checks.column_nullable(_SCHEMA, _TABLE, _COLUMN, option="not_null"),
    checks.column_has_no_default(None, _TABLE, _COLUMN),
    checks.constraint_absent(_SCHEMA, _TABLE, "c"),
    checks.relation_absent(None, "users_idx", "index"),
    checks.relation_exists(_SCHEMA, "users_idx", "index"),
    checks.column_type_is(None, _TABLE, _COLUMN, "character varying"),
    checks.column_not_unique(_SCHEMA, _TABLE, _COLUMN),
    checks.column_not_indexed(None, _TABLE, _COLUMN),
    checks.column_without_foreign_key(_SCHEMA, _TABLE, _COLUMN, hint="h"),
    checks.column_not_referenced(None, _TABLE, _COLUMN),
]


def _dynamic(sql: str) -> a.Dynamic:
    [action] = read_actions(sql)
    assert isinstance(action, a.Dynamic)
    return action


@pytest.mark.parametrize("check", GENERATED, ids=[c.message for c in GENERATED])
def test_every_generated_catalog_check_is_recognised(check: CatalogCheck) -> None:
    # The DO block operations rendered before checks became CheckSteps (hand-written
    # migrations may still carry copies of it).
    body = (
        f"\nBEGIN\n  IF NOT coalesce(({check.sql}), false) THEN\n"
        f"    RAISE EXCEPTION USING MESSAGE = {quote_literal(check.message)},"
        " ERRCODE = 'object_not_in_prerequisite_state';\n"
        "  END IF;\nEND\n"
    )
    assert _dynamic(f"DO {dollar_quote(body)}").catalog_check


@pytest.mark.parametrize(
    "body",
    [
        "BEGIN IF to_regclass('t') IS NULL THEN RAISE EXCEPTION 'x'; END IF; END",
        "BEGIN IF (SELECT count(*) FROM pg_constraint) = 0 THEN NULL; END IF; END;",
        "BEGIN IF EXISTS (SELECT 1 FROM information_schema.columns) THEN RAISE NOTICE 'x';"
        " ELSE NULL; END IF; END",
    ],
)
def test_catalog_checks_written_by_hand(body: str) -> None:
    assert _dynamic(f"DO $$ {body} $$").catalog_check


@pytest.mark.parametrize(
    "sql",
    [
        # data
        "DO $$ BEGIN UPDATE users SET a = 1; END $$",
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM users) THEN RAISE EXCEPTION 'x'; END IF; END $$",
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM public.pg_class) THEN NULL; END IF; END $$",
        "DO $$ BEGIN IF true THEN DELETE FROM users; END IF; END $$",
        # calls that may do anything or take time
        "DO $$ BEGIN IF (SELECT pg_sleep(60)) IS NULL THEN NULL; END IF; END $$",
        "DO $$ BEGIN IF nextval('s') > 0 THEN NULL; END IF; END $$",
        "DO $$ BEGIN IF true THEN RAISE EXCEPTION '%', (SELECT count(*) FROM users); END IF;"
        " END $$",
        # forms the reader does not know
        "DO $$ DECLARE n int; BEGIN NULL; END $$",
        "DO $$ BEGIN PERFORM 1; END $$",
        "DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$",
        "DO $$ BEGIN IF true THEN NULL; END IF; END; SELECT 1 $$",
        "DO LANGUAGE plperl $$ BEGIN NULL; END $$",
        "DO $$ BEGIN IF true THEN NULL; END $$",
    ],
)
def test_anything_else_is_not_a_catalog_check(sql: str) -> None:
    toks = tokenize(sql)
    assert toks is not None
    assert not is_catalog_check(toks)


# --- a DO block's statements are read like top-level ones ---------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$", [a.DropObjects]),
        ("DO 'BEGIN EXECUTE ''CREATE INDEX i ON users (email)''; END'", [a.CreateIndex]),
        ("DO $$ BEGIN EXECUTE $q$ALTER TABLE users DROP COLUMN x$q$; END $$", [a.DropColumn]),
        (
            "DO $$ BEGIN IF to_regclass('t') IS NULL THEN ALTER TABLE users ADD COLUMN x int;"
            " END IF; END $$",
            [a.AddColumn],
        ),
        (
            "DO $$ DECLARE n int; BEGIN UPDATE users SET a = 1; EXCEPTION WHEN others THEN NULL;"
            " END $$",
            [a.WriteRows],
        ),
        (
            "DO $$ BEGIN FOR r IN SELECT id FROM users LOOP DELETE FROM t WHERE id = r.id;"
            " END LOOP; END $$",
            [a.Harmless, a.WriteRows],
        ),
        ("DO $$ BEGIN EXECUTE format('DROP TABLE %I', 'users'); END $$", [a.Dynamic]),
        ("DO $$ DECLARE q text := 'DROP TABLE users'; BEGIN EXECUTE q; END $$", [a.Dynamic]),
        ("DO $$ BEGIN COMMIT; END $$", [a.Dynamic]),
        ("DO LANGUAGE plperl $$ BEGIN NULL; END $$", [a.Dynamic]),
    ],
)
def test_do_block_statements_are_read(sql: str, expected: list[type[a.Action]]) -> None:
    assert [type(x) for x in read_actions(sql)] == expected
