"""``--format sarif``: SARIF 2.1.0, as GitHub code scanning accepts it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from expandctl.lint.records import ReportView

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _uri(path: str) -> str:
    return path.replace("\\", "/").removeprefix("./")


def render_sarif(report: ReportView) -> str:
    # The rule table needs every rule (and the parser): imported here, so that
    # the other formats of a cached run never load them.
    from expandctl.lint.registry import RULES

    rules = [
        {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": _first_line(rule.__doc__)},
            "fullDescription": {"text": " ".join((rule.__doc__ or "").split())[:1000]},
            "help": {"text": f"See docs/rules.md#{rule.id.lower()}-{rule.name}"},
            "defaultConfiguration": {"level": _LEVEL[rule.severity]},
            "properties": {"tags": [rule.group]},
        }
        for rule in RULES
    ]
    index = {rule.id: i for i, rule in enumerate(RULES)}
    results: list[dict[str, Any]] = [
        {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": _LEVEL[f.severity],
            "message": {"text": f"{f.message}\nSafe: {f.fix}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.path)},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                        },
                    }
                }
            ],
            "partialFingerprints": {"primaryLocationLineHash": _line_hash(f.source_line)},
        }
        for f in report.findings
    ]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "expandctl",
                        "version": report.version,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].replace("``", "") if doc else ""


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.strip().encode()).hexdigest()[:16]
