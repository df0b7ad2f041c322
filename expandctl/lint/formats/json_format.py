"""``--format json``: the LintReport model, indented (schema documented in docs/lint.md)."""

from __future__ import annotations

from expandctl.lint.records import ReportView, report_json


def render_json(report: ReportView) -> str:
    return report_json(report)
