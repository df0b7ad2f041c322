"""Every rule's YAML fixture cases, and the contract every registered rule must meet."""

from __future__ import annotations

import re

import pytest

from expandctl.lint import RULES, LintContext, lint_sql, rule_set
from expandctl.lint.rule import GROUPS, Rule
from expandctl.model.phases import Phase
from expandctl.model.retires import RetiredObject
from tests.lint.fixtures_loader import FIXTURES, Case, load_cases, run_case

CASES = load_cases()
_SECTIONS = ("Lock or breakage:", "Safe alternative:", "Bad:", "Good:")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture_case(case: Case) -> None:
    found = sorted(f.rule_id for f in run_case(case))
    assert found == sorted(case.expect), f"{case.rule} / {case.name}"


def _example(rule: Rule, label: str) -> str:
    doc = rule.__doc__ or ""
    match = re.search(rf"^\s*{label}:\n(?P<body>(?:\s{{8}}.*\n?|\s*\n)+)", doc, re.M)
    assert match, f"{rule.id} has no {label}: example"
    return "\n".join(line[8:] for line in match.group("body").splitlines())


def _lint_example(rule: Rule, sql: str, *, good: bool) -> list[str]:
    retires = frozenset(RetiredObject.parse(r) for r in rule.example_retires) if good else None
    findings = lint_sql(
        sql,
        phase=rule.example_phase if good else Phase.EXPAND,
        source_name="example.sql",
        pg_version=rule.example_pg_version,
        context=LintContext(
            retires=retires or frozenset(), managed_transactions=rule.example_managed
        ),
        rules=rule_set(select=["all"]),
    )
    return [f.rule_id for f in findings]


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_contract(rule: Rule) -> None:
    assert re.fullmatch(r"[LCDTIUSX]\d{3}", rule.id)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.name)
    assert rule.group in GROUPS
    assert rule.severity in ("error", "warning", "info")
    doc = rule.__doc__ or ""
    for section in _SECTIONS:
        assert section in doc, f"{rule.id} docstring lacks {section!r}"
    fixture = FIXTURES / f"{rule.id}.yml"
    assert fixture.is_file(), f"{rule.id} has no fixture file"
    cases = [c for c in CASES if c.rule == rule.id]
    assert any(rule.id in c.expect for c in cases), f"{rule.id}: no failing case"
    assert any(rule.id not in c.expect for c in cases), f"{rule.id}: no passing case"
    bad = _lint_example(rule, _example(rule, "Bad"), good=False)
    good = _lint_example(rule, _example(rule, "Good"), good=True)
    assert rule.id in bad, f"{rule.id}: the Bad example passes"
    assert rule.id not in good, f"{rule.id}: the Good example fails"


def test_ids_and_names_are_unique() -> None:
    assert len({r.id for r in RULES}) == len(RULES)
    assert len({r.name for r in RULES}) == len(RULES)


def test_every_fixture_belongs_to_a_rule() -> None:
    ids = {r.id for r in RULES}
    assert {p.stem for p in FIXTURES.glob("*.yml")} <= ids
