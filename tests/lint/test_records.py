"""The linter's plain records agree with the documented pydantic models, field for
field, and render to the same bytes (``lint.records`` and ``lint.finding``)."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields

import pytest

from expandctl.lint.finding import Finding, LintedFile, LintReport, Summary
from expandctl.lint.formats import render
from expandctl.lint.records import (
    FILE_FIELDS,
    FINDING_FIELDS,
    SUMMARY_FIELDS,
    FileRecord,
    FindingRecord,
    ReportRecord,
    SummaryRecord,
    report_json,
)


@pytest.mark.parametrize(
    ("record", "model", "names"),
    [
        (FindingRecord, Finding, FINDING_FIELDS),
        (FileRecord, LintedFile, FILE_FIELDS),
        (SummaryRecord, Summary, SUMMARY_FIELDS),
    ],
)
def test_the_records_fields_are_the_models(
    record: type, model: type, names: tuple[str, ...]
) -> None:
    assert names == tuple(model.model_fields)
    for field in fields(record):
        default = model.model_fields[field.name].get_default(call_default_factory=True)
        expected = MISSING if model.model_fields[field.name].is_required() else default
        assert field.default == expected, field.name


def test_the_report_records_fields_are_the_models() -> None:
    assert {f.name for f in fields(ReportRecord)} == set(LintReport.model_fields)
    built = ReportRecord(version="1", pg_version=15)
    model = LintReport(version="1", pg_version=15)
    assert report_json(built) == model.model_dump_json(indent=2)


def _finding(**changes: object) -> FindingRecord:
    values: dict[str, object] = {
        "rule_id": "L101",
        "rule_name": "create-index-non-concurrently",
        "group": "locking",
        "severity": "error",
        "path": "a.sql",
        "line": 1,
        "column": 1,
        "end_line": 2,
        "phase": "expand",
        "message": "m",
        "fix": "f",
    }
    return FindingRecord(**{**values, **changes})  # type: ignore[arg-type]


# Text JSON escapes differently in different libraries: quotes, backslashes,
# control characters, non-ASCII, the line separators JavaScript cares about.
AWKWARD = 'é "q" \\ \t\x01\x1f\x7f ✓ 😀 \u2028\u2029 </script>'


@pytest.mark.parametrize("fail_on", ["error", "warning"])
def test_a_record_report_renders_as_its_model_does(fail_on: str) -> None:
    record = ReportRecord(
        version="0.1.0",
        pg_version=15,
        fail_on=fail_on,  # type: ignore[arg-type]
        files=[FileRecord(path="a.sql", phase="expand", statements=2)],
        findings=[
            _finding(message=AWKWARD, source_line=AWKWARD),
            _finding(severity="warning", rule_id="S601", line=3, fix=AWKWARD),
            _finding(severity="info", path="<stdin>"),
        ],
        summary=SummaryRecord(files=1, statements=2, errors=1, warnings=1, notes=1),
    )
    model = LintReport.of(record)
    assert model.model_dump_json(indent=2) == report_json(record)
    assert json.loads(report_json(record))["findings"][0]["message"] == AWKWARD
    for output_format in ("text", "json", "github", "sarif", "gitlab"):
        assert render(record, output_format) == render(model, output_format), output_format
    assert record.failed == model.failed
    first = {name: getattr(record.findings[0], name) for name in FINDING_FIELDS}
    assert model.findings[0] == Finding.model_validate(first)
