"""quote_ident must agree with psycopg.sql.Identifier, the quoting the engine uses."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from expandctl.model.sql_quote import (
    dollar_quote,
    object_name,
    qualified,
    quote_ident,
    quote_literal,
)

TRICKY = ["users", "Users", 'we"ird', "two words", "select", "order", "naïve", "日本", "a$b", '""']


@pytest.mark.parametrize("name", TRICKY)
def test_quote_ident_agrees_with_psycopg(name: str) -> None:
    assert quote_ident(name) == sql.Identifier(name).as_string(None)


def test_qualified_agrees_with_psycopg() -> None:
    assert qualified("My Schema", "t") == sql.Identifier("My Schema", "t").as_string(None)
    assert qualified(None, "t") == '"t"'


@pytest.mark.db
def test_quoted_names_round_trip_through_postgres(pg_database: object) -> None:
    dsn = pg_database.dsn  # type: ignore[attr-defined]
    with psycopg.connect(dsn) as conn:
        for name in TRICKY:
            row = conn.execute(f"SELECT 1 AS {quote_ident(name)}").fetchone()
            assert row == (1,)
            assert conn.execute(f"SELECT {quote_literal(name)}").fetchone() == (name,)


def test_bad_identifiers_are_refused() -> None:
    with pytest.raises(ValueError):
        quote_ident("")
    with pytest.raises(ValueError):
        quote_ident("a\x00b")


def test_quote_literal_doubles_quotes() -> None:
    assert quote_literal("it's") == "'it''s'"


def test_dollar_quote_picks_a_tag_absent_from_the_body() -> None:
    assert dollar_quote("x $expandctl$ y") == "$expandctl1$x $expandctl$ y$expandctl1$"


def test_object_name_fits_in_63_bytes_and_stays_distinct() -> None:
    a = object_name("expandctl", "0010", "a" * 80, "x")
    b = object_name("expandctl", "0010", "a" * 80, "y")
    assert len(a.encode()) <= 63 and len(b.encode()) <= 63
    assert a != b
    assert object_name("short", "name") == "short_name"
