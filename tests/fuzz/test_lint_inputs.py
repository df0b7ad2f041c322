"""Inputs that crashed or hung the linter (exit 70) now give a finding or a one-line error."""

from __future__ import annotations

import pytest

from expandctl.errors import LintError
from expandctl.lint import lint_source
from expandctl.model.phases import Phase


def _findings(sql: str) -> list[tuple[str, str]]:
    result = lint_source(sql, phase=Phase.EXPAND, source_name="x.sql")
    return [(f.rule_id, f.message) for f in result.findings]


@pytest.mark.parametrize(
    ("sql", "rule", "reason"),
    [
        # not PostgreSQL either: PostgreSQL's parser says so (syntax-error)
        ("ELSE 1;", "I701", 'syntax error at or near "ELSE"'),
        ("x ?;", "I701", 'syntax error at or near "x"'),
        (
            "UPDATE t SET a = " + "(" * 500 + "1" + ")" * 500 + ";",
            "U501",
            "nested more than 100 levels",
        ),
        ("UPDATE t SET a = " + "ARRAY[" * 40 + "'s'" + "]" * 40, "U501", "nests arrays more"),
        (
            "SELECT " + "ARRAY[" * 300 + "1" + "]" * 300 + " FROM t WHERE x = 1 ORDER BY 1 x;",
            "",
            "",
        ),
    ],
)
def test_unreadable_sql_is_unverified_not_a_crash(sql: str, rule: str, reason: str) -> None:
    findings = _findings(sql)
    if reason:
        assert [found for found, _ in findings] == [rule]
        assert reason in findings[0][1]


def test_a_bom_lints_like_the_same_file_without_it() -> None:
    sql = "CREATE INDEX i ON t (id);\n"
    assert _findings("\ufeff" + sql) == _findings(sql)
    assert [rule for rule, _ in _findings(sql)] == ["L101"]


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x1f"])
def test_a_control_character_in_plain_sql_is_an_error_with_its_line(char: str) -> None:
    with pytest.raises(LintError, match=r"line 2, column 15: control character U\+00"):
        lint_source(f"SELECT 1;\nUPDATE t SET a{char} = 1;\n", phase=Phase.EXPAND, source_name="x")
