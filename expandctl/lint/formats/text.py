"""Human output: file:line:col, rule, the source line with a caret, why, and the safe way."""

from __future__ import annotations

from expandctl.lint.records import FindingView, ReportView

_COLORS = {
    "error": "\x1b[1;31m",
    "warning": "\x1b[1;33m",
    "info": "\x1b[1;36m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}
_RESET = "\x1b[0m"


def render_text(report: ReportView, *, color: bool = False) -> str:
    def paint(text: str, style: str) -> str:
        return f"{_COLORS[style]}{text}{_RESET}" if color else text

    blocks = [_finding(f, paint) for f in report.findings]
    blocks.append(_summary(report))
    return "\n\n".join(blocks)


def _finding(finding: FindingView, paint: object) -> str:
    assert callable(paint)
    gutter = str(finding.line)
    pad = " " * len(gutter)
    source = finding.source_line.expandtabs(1)
    caret = " " * (finding.column - 1) + "^"
    header = (
        f"{paint(finding.location, 'bold')}: {paint(finding.severity, finding.severity)} "
        f"{finding.rule_id} {finding.rule_name} [{finding.phase}]"
    )
    return "\n".join(
        [
            header,
            f" {gutter} | {source}",
            f" {pad} | {paint(caret, finding.severity)}",
            f"  why: {finding.message}",
            f"  safe: {finding.fix}",
        ]
    )


def _summary(report: ReportView) -> str:
    s = report.summary
    files = f"{s.files} file{'s' if s.files != 1 else ''}"
    statements = f"{s.statements} statement{'s' if s.statements != 1 else ''}"
    counts = f"{s.errors} error{'s' if s.errors != 1 else ''}, "
    counts += f"{s.warnings} warning{'s' if s.warnings != 1 else ''}"
    if s.notes:
        counts += f", {s.notes} note{'s' if s.notes != 1 else ''}"
    if s.suppressed:
        counts += f", {s.suppressed} suppressed"
    verdict = "FAILED" if report.failed else "passed"
    return f"{files}, {statements}: {counts} — lint {verdict} (pg {report.pg_version})"
