"""``--format github``: GitHub Actions workflow commands, one annotation per finding."""

from __future__ import annotations

from expandctl.lint.records import ReportView
from expandctl.model.words import plural


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: ReportView) -> str:
    lines = []
    for f in report.findings:
        props = ",".join(
            [
                f"file={_property(f.path)}",
                f"line={f.line}",
                f"endLine={f.end_line}",
                f"col={f.column}",
                f"title={_property(f'{f.rule_id} {f.rule_name}')}",
            ]
        )
        body = _data(f"{f.message}\nSafe: {f.fix}")
        command = "notice" if f.severity == "info" else f.severity
        lines.append(f"::{command} {props}::{body}")
    s = report.summary
    counts = f"{plural(s.errors, 'error')}, {plural(s.warnings, 'warning')}"
    lines.append(f"expandctl lint: {counts} in {plural(s.files, 'file')}")
    return "\n".join(lines)
