"""The shared statement splitter: semicolons inside quotes and comments do not split."""

from __future__ import annotations

import pytest

from expandctl.model.sql_split import find_comments, split_statements


def texts(sql: str) -> list[str]:
    return [s.text for s in split_statements(sql)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b'", "SELECT 2"]),
        ("SELECT 'it''s;'; SELECT 2", ["SELECT 'it''s;'", "SELECT 2"]),
        ("SELECT E'x\\';y'; SELECT 2", ["SELECT E'x\\';y'", "SELECT 2"]),
        ('SELECT "a;""b"; SELECT 2', ['SELECT "a;""b"', "SELECT 2"]),
        ("SELECT $$a;b$$; SELECT 2", ["SELECT $$a;b$$", "SELECT 2"]),
        (
            "DO $body$ BEGIN PERFORM 1; END $body$; SELECT 2",
            ["DO $body$ BEGIN PERFORM 1; END $body$", "SELECT 2"],
        ),
        ("SELECT $1; SELECT 2", ["SELECT $1", "SELECT 2"]),
        ("SELECT 1 /* ; /* nested ; */ still ; */; SELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1 -- ; comment\n; SELECT 2", ["SELECT 1", "SELECT 2"]),
        (";;  ; -- only comments\n", []),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT 2",
            ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", "SELECT 2"],
        ),
    ],
)
def test_split(sql: str, expected: list[str]) -> None:
    assert texts(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT name'x;y'; SELECT 2", ["SELECT name'x;y'", "SELECT 2"]),
        ("SELECT e'a\\';b'; SELECT 2", ["SELECT e'a\\';b'", "SELECT 2"]),
        ("SELECT a$b; SELECT $q$ ; $q$", ["SELECT a$b", "SELECT $q$ ; $q$"]),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "
            "SELECT CASE WHEN x THEN 1 END; SELECT ';'; END; SELECT 2",
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "
                "SELECT CASE WHEN x THEN 1 END; SELECT ';'; END",
                "SELECT 2",
            ],
        ),
        ("SELECT 'atomic'; SELECT 2", ["SELECT 'atomic'", "SELECT 2"]),
    ],
)
def test_split_edge_cases(sql: str, expected: list[str]) -> None:
    assert texts(sql) == expected


def test_positions_are_one_based_and_skip_comments() -> None:
    sql = "-- header\n\n  /* note */ ALTER TABLE users\n    ADD COLUMN x int;\nSELECT 1"
    first, second = split_statements(sql)
    assert (first.line, first.column, first.end_line) == (3, 14, 4)
    assert sql[first.start : first.end] == first.text
    assert [c.text for c in first.leading_comments] == ["-- header", "/* note */"]
    assert first.terminated and not second.terminated
    assert (second.line, second.column) == (5, 1)


def test_comments_are_found_outside_strings_only() -> None:
    sql = "SELECT '-- not a comment'; -- real\n/* block */"
    assert [(c.text, c.line) for c in find_comments(sql)] == [("-- real", 1), ("/* block */", 2)]


def test_unterminated_quote_runs_to_end_instead_of_crashing() -> None:
    assert texts("SELECT 'open; SELECT 2") == ["SELECT 'open; SELECT 2"]
