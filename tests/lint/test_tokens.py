"""The statement tokens, read by PostgreSQL's own scanner (``lint.tokens``)."""

from __future__ import annotations

import pytest

from expandctl.lint.source import read_actions
from expandctl.lint.tokens import NUMBER, PUNCT, QUOTED, STRING, WORD, Tok, tokenize


def _toks(sql: str) -> list[Tok]:
    toks = tokenize(sql)
    assert toks is not None
    return toks


def test_words_names_strings_numbers_and_punctuation() -> None:
    toks = _toks("ALTER TABLE \"Ünïcode\" ADD COLUMN é int DEFAULT 'it''s' -- ü\n, x::int[] >= 1.5")
    assert [t.kind for t in toks] == [
        WORD, WORD, QUOTED, WORD, WORD, WORD, WORD, WORD, STRING,
        PUNCT, WORD, PUNCT, WORD, PUNCT, PUNCT, PUNCT, NUMBER,
    ]  # fmt: skip
    assert toks[2].text == "Ünïcode"
    assert toks[2].name == '"Ünïcode"'
    assert (toks[5].word, toks[5].text, toks[5].name) == ("É", "é", "é")
    assert toks[8].text == "it's"
    assert [t.text for t in toks[-6:]] == ["::", "int", "[", "]", ">=", "1.5"]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ("'a''b'", "a'b"),
        ("E'a\\'b\\\\c\\n'", "a'b\\c\n"),
        ("E'\\t\\x41\\101\\u00e9\\U0001F600\\q'", "\tAA\u00e9\U0001f600q"),
        ("E'a\\n'\n'b\\n'", "a\nb\n"),
        ("U&'d\\0061t\\+000061'", "data"),
        ("$$body $x$ 'q'$$", "body $x$ 'q'"),
        ("$fn$ SELECT 1; $fn$", " SELECT 1; "),
        ("'con'\n'tinued'", "continued"),
        ("B'0101'", "0101"),
        ("X'ff'", "ff"),
    ],
)
def test_string_constants_read_as_their_value(literal: str, value: str) -> None:
    toks = _toks(f"SELECT {literal}")
    assert toks[1:] == [Tok("", value, STRING)]


def test_comments_are_no_tokens_and_keywords_in_them_are_never_words() -> None:
    toks = _toks("/* DROP TABLE users; /* nested */ */ SELECT 1 -- DROP TABLE users\n")
    assert [t.word for t in toks] == ["SELECT", ""]


@pytest.mark.parametrize("rest", ["'open", '"open', "$$open", "1 /* x"])
def test_what_postgresql_cannot_scan_is_unreadable(rest: str) -> None:
    sql = f"ALTER TABLE t ADD COLUMN c int DEFAULT {rest}"
    assert tokenize(sql) is None
    assert [type(x).__name__ for x in read_actions(sql)] == ["Unknown"]


def test_offsets_count_characters_in_non_ascii_text() -> None:
    actions = read_actions('ALTER TABLE "ü€" ADD COLUMN "😀" text DEFAULT \'é\'')
    assert len(actions) == 1
    column = actions[0].column  # type: ignore[attr-defined]
    assert (actions[0].table, column.name, column.default) == ('"ü€"', '"😀"', "'é'")  # type: ignore[attr-defined]


def test_unicode_escaped_names_are_read_as_their_name() -> None:
    toks = _toks('DROP TABLE U&"d\\0061ta", U&"W\\00e4rme"')
    assert [(t.kind, t.text) for t in toks[2:]] == [
        (QUOTED, "data"),
        (PUNCT, ","),
        (QUOTED, "Wärme"),
    ]
    assert toks[2].name == "data"


def test_a_do_body_written_as_an_escape_string_is_read() -> None:
    actions = read_actions("DO E'BEGIN\\n  ALTER TABLE users DROP COLUMN email;\\nEND'")
    assert [type(x).__name__ for x in actions] == ["DropColumn"]
