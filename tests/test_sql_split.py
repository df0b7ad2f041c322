"""The shared statement splitter: semicolons inside quotes and comments do not split."""

from __future__ import annotations

import pytest

from expandctl.model.sql_split import find_comments, split_script, split_statements


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


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # "-", "/" and ":" that start no token (no comment, no variable) are plain text
        ("- 1; SELECT 2", [("- 1", 1), ("SELECT 2", 6)]),
        ("  / ;", [("/", 3)]),
        ("SELECT 4 - 2 / 1; SELECT x::text", [("SELECT 4 - 2 / 1", 1), ("SELECT x::text", 19)]),
        ("SELECT 1 -1; SELECT 2 /2", [("SELECT 1 -1", 1), ("SELECT 2 /2", 14)]),
        ("SELECT a.b[1:2]; SELECT 2", [("SELECT a.b[1:2]", 1), ("SELECT 2", 18)]),
        # e'...' is an escape string only when the e starts a word
        ("SELECT e'a\\';b'; SELECT 2", [("SELECT e'a\\';b'", 1), ("SELECT 2", 18)]),
        ("SELECT some'x\\';y'", [("SELECT some'x\\'", 1), ("y'", 17)]),
        ("SELECT \"e\"'a\\';b'", [("SELECT \"e\"'a\\'", 1), ("b'", 16)]),
        ("SELECT :abe'x\\';y'", [("SELECT :abe'x\\'", 1), ("y'", 17)]),
    ],
)
def test_characters_that_start_no_token(sql: str, expected: list[tuple[str, int]]) -> None:
    """The scanner jumps to the first characters of tokens; these read as the
    full token alternation would (with the columns where statements start)."""
    assert [(s.text, s.column) for s in split_statements(sql)] == expected


def test_an_unclosed_dollar_brace_template_ends() -> None:
    """The regression: '${' with no '}' left the scanner where it was, forever."""
    scanned = split_script("SELECT ${x;\nSELECT 2;\n")
    assert [s.text for s in scanned.statements] == ["SELECT ${x", "SELECT 2"]
    assert [(p.kind, p.text, p.column) for p in scanned.placeholders] == [("template", "{", 9)]
