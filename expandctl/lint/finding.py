"""Findings and the lint report: the documented, stable JSON schema.

``expandctl lint --format json`` prints ``LintReport.model_dump_json()``.
Fields are only ever added (with defaults), never renamed or removed, within
one ``schema_version``. ``expandctl.lint.records`` holds the same fields as
plain records (what the linter builds without importing pydantic).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from expandctl.lint.records import (
    FILE_FIELDS,
    FINDING_FIELDS,
    SCHEMA_VERSION,
    SUMMARY_FIELDS,
    FindingRecord,
    ReportRecord,
    Severity,
    report_failed,
)

__all__ = ["SCHEMA_VERSION", "Finding", "LintReport", "LintedFile", "Severity", "Summary"]


class Finding(BaseModel):
    """One hazard in one statement."""

    model_config = ConfigDict(frozen=True)

    rule_id: str = Field(description="stable rule id, e.g. 'L101'")
    rule_name: str = Field(description="kebab-case rule name, e.g. 'create-index-non-concurrently'")
    group: str = Field(description="locking, compatibility, data-loss, transactions, ...")
    severity: Severity
    path: str = Field(description="file as given on the command line, '<stdin>' for -")
    line: int = Field(ge=1, description="1-based line of the statement's first character")
    column: int = Field(ge=1, description="1-based column of the statement's first character")
    end_line: int = Field(ge=1, description="1-based last line of the statement")
    phase: str = Field(description="the phase whose rules applied, e.g. 'expand'")
    message: str = Field(description="what goes wrong: which lock, what it blocks, what breaks")
    fix: str = Field(description="the safe way to do it, with the real names filled in")
    source_line: str = Field(default="", description="the text of the statement's first line")

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    @classmethod
    def of(cls, record: FindingRecord) -> Finding:
        # model_construct: the linter built every field from checked values;
        # validating thousands of findings again would only cost time.
        return cls.model_construct(**{name: getattr(record, name) for name in FINDING_FIELDS})


class LintedFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    phase: str
    rollback: bool = False
    statements: int = 0


class Summary(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: int = 0
    statements: int = 0
    errors: int = 0
    warnings: int = 0
    suppressed: int = 0
    notes: int = 0  # info findings


class LintReport(BaseModel):
    """Everything one ``expandctl lint`` run found."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    tool: str = "expandctl"
    version: str
    pg_version: int
    fail_on: Severity = "error"
    files: list[LintedFile] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)

    @property
    def failed(self) -> bool:
        """True when the gate should fail (exit code 1)."""
        return report_failed(self)

    @classmethod
    def of(cls, record: ReportRecord) -> LintReport:
        """The model of a report the linter built as a record."""
        return cls(
            version=record.version,
            pg_version=record.pg_version,
            fail_on=record.fail_on,
            files=[LintedFile(**{k: getattr(f, k) for k in FILE_FIELDS}) for f in record.files],
            findings=[Finding.of(f) for f in record.findings],
            summary=Summary(**{k: getattr(record.summary, k) for k in SUMMARY_FIELDS}),
        )
