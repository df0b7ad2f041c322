"""The phase-aware SQL lint gate.

Public API (stable):

- ``lint_sql(text, *, phase, source_name, pg_version=15, context=None, rules=None,
  rollback=False) -> list[Finding]``
- ``lint_source(...)``: as ``lint_sql``, as a ``FileResult`` (counts, suppressions)
- ``lint_migration(migration, *, pg_version=15, rules=None) -> list[FileResult]``:
  the steps ``advance`` plans for every phase (``planned``), forward and rollback
- ``rule_set(settings, select=..., ignore=..., severity=...) -> RuleSet``
- ``LintContext``, ``Finding``, ``LintReport``, ``RULES``

The names are imported on first use (PEP 562), so importing a light submodule
(``expandctl.lint.finding``, ``expandctl.lint.cache``) does not pull in the
parser and every rule: a cached ``expandctl lint`` never imports sqlglot.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expandctl.lint.context import LintContext
    from expandctl.lint.finding import Finding, LintReport
    from expandctl.lint.registry import RULES, RuleSet, rule_set
    from expandctl.lint.runner import FileResult, lint_migration, lint_source, lint_sql

_WHERE = {
    "LintContext": "expandctl.lint.context",
    "Finding": "expandctl.lint.finding",
    "LintReport": "expandctl.lint.finding",
    "RULES": "expandctl.lint.registry",
    "RuleSet": "expandctl.lint.registry",
    "rule_set": "expandctl.lint.registry",
    "FileResult": "expandctl.lint.runner",
    "lint_migration": "expandctl.lint.runner",
    "lint_source": "expandctl.lint.runner",
    "lint_sql": "expandctl.lint.runner",
}

__all__ = [
    "RULES",
    "FileResult",
    "Finding",
    "LintContext",
    "LintReport",
    "RuleSet",
    "lint_migration",
    "lint_source",
    "lint_sql",
    "rule_set",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value
