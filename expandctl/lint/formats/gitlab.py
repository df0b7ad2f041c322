"""``--format gitlab``: a GitLab Code Quality report (a JSON array of issues)."""

from __future__ import annotations

import hashlib
import json

from expandctl.lint.records import FindingView, ReportView

_SEVERITY = {"error": "major", "warning": "minor", "info": "info"}


def _fingerprint(finding: FindingView) -> str:
    # Stable across runs and unrelated edits: rule, file and the flagged line's text.
    key = f"{finding.rule_id}\0{finding.path}\0{finding.source_line.strip()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def render_gitlab(report: ReportView) -> str:
    issues = [
        {
            "description": f"{f.rule_id} {f.rule_name}: {f.message} Safe: {f.fix}",
            "check_name": f.rule_id,
            "fingerprint": _fingerprint(f),
            "severity": _SEVERITY[f.severity],
            "categories": ["Bug Risk"],
            "location": {"path": f.path, "lines": {"begin": f.line, "end": f.end_line}},
        }
        for f in report.findings
    ]
    return json.dumps(issues, indent=2)
