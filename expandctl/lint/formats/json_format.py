"""``--format json``: the LintReport model, indented (schema documented in docs/lint.md)."""

from __future__ import annotations

from expandctl.lint.finding import LintReport


def render_json(report: LintReport) -> str:
    return report.model_dump_json(indent=2)
