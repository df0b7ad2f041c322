"""Read the per-rule YAML fixtures and lint one case the way the fixture says."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from expandctl.lint import LintContext, lint_sql, rule_set
from expandctl.lint.finding import Finding
from expandctl.model.phases import Phase
from expandctl.model.retires import RetiredObject

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    sql: str
    expect: list[str]
    phase: Phase = Phase.EXPAND
    pg_version: int = 15
    retires: list[str] = field(default_factory=list)
    rollback: bool = False
    forward: str = ""
    select: list[str] = field(default_factory=list)
    managed: bool = False  # a phase file: the engine groups statements into transactions

    @property
    def id(self) -> str:
        return f"{self.rule}-{self.name.replace(' ', '-')}"


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(FIXTURES.glob("*.yml")):
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        for raw in data["cases"]:
            cases.append(
                Case(
                    rule=data["rule"],
                    name=raw["name"],
                    sql=raw["sql"],
                    expect=list(raw["expect"]),
                    phase=Phase(raw.get("phase", data.get("phase", "expand"))),
                    pg_version=int(raw.get("pg_version", 15)),
                    retires=list(raw.get("retires", [])),
                    rollback=bool(raw.get("rollback", False)),
                    forward=raw.get("forward", ""),
                    select=list(raw.get("select", data.get("select", ["default"]))),
                    managed=bool(raw.get("managed", False)),
                )
            )
    return cases


def run_case(case: Case) -> list[Finding]:
    rules = rule_set(select=case.select)
    context = LintContext(
        retires=frozenset(RetiredObject.parse(r) for r in case.retires),
        managed_transactions=case.managed,
    )
    if case.rollback:
        forward = LintContext()
        lint_sql(case.forward, phase=case.phase, source_name="forward.sql", context=forward)
        context.forward_created = set(forward.file_created)
        context.linked_tables = forward.linked_tables
    return lint_sql(
        case.sql,
        phase=case.phase,
        source_name="case.sql",
        pg_version=case.pg_version,
        context=context,
        rules=rules,
        rollback=case.rollback,
    )
