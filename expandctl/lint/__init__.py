"""The phase-aware SQL lint gate.

Public API (stable):

- ``lint_sql(text, *, phase, source_name, pg_version=15, context=None, rules=None,
  rollback=False) -> list[Finding]``
- ``lint_source(...)``: as ``lint_sql``, as a ``FileResult`` (counts, suppressions)
- ``lint_migration(migration, *, pg_version=15, rules=None) -> list[FileResult]``:
  the steps ``advance`` plans for every phase (``planned``), forward and rollback
- ``rule_set(settings, select=..., ignore=..., severity=...) -> RuleSet``
- ``LintContext``, ``Finding``, ``LintReport``, ``RULES``
"""

from expandctl.lint.context import LintContext
from expandctl.lint.finding import Finding, LintReport
from expandctl.lint.registry import RULES, RuleSet, rule_set
from expandctl.lint.runner import FileResult, lint_migration, lint_source, lint_sql

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
