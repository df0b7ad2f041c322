"""Renderers of a LintReport: pure functions from report to text (no click, no I/O)."""

from __future__ import annotations

from collections.abc import Callable

from expandctl.lint.formats.github import render_github
from expandctl.lint.formats.gitlab import render_gitlab
from expandctl.lint.formats.json_format import render_json
from expandctl.lint.formats.sarif import render_sarif
from expandctl.lint.formats.text import render_text
from expandctl.lint.records import ReportView

FORMATS: dict[str, Callable[[ReportView], str]] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
    "gitlab": render_gitlab,
}


def render(report: ReportView, output_format: str, *, color: bool = False) -> str:
    if output_format == "text":
        return render_text(report, color=color)
    return FORMATS[output_format](report)
