"""Findings and the report as plain records: what ``expandctl lint`` builds and renders.

The documented schema is ``expandctl.lint.finding`` (pydantic models, the public
API). Importing pydantic and building those models costs more than linting a
small file, so the linter works with these records, field for field the same
(tests/lint/test_records.py checks that), and turns them into the models only
for callers of the public API. The renderers read either: they only read
attributes both have (``ReportView``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from json.encoder import encode_basestring  # C-accelerated, as with ensure_ascii=False
from operator import attrgetter
from typing import Any, Literal, Protocol

# "info" is a note (a skipped psql command): shown, never failing the gate.
Severity = Literal["error", "warning", "info"]
SCHEMA_VERSION = 1


# Not frozen: a corpus builds thousands (in the workers, then in the report), and a
# frozen dataclass sets each field through object.__setattr__, 3x slower. Nothing
# mutates them after they are built.
@dataclass(slots=True)
class FindingRecord:
    """``finding.Finding``'s fields, in its order."""

    rule_id: str
    rule_name: str
    group: str
    severity: Severity
    path: str
    line: int
    column: int
    end_line: int
    phase: str
    message: str
    fix: str
    source_line: str = ""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


FINDING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FindingRecord))


@dataclass(frozen=True, slots=True)
class FileRecord:
    """``finding.LintedFile``."""

    path: str
    phase: str
    rollback: bool = False
    statements: int = 0


@dataclass(frozen=True, slots=True)
class SummaryRecord:
    """``finding.Summary``."""

    files: int = 0
    statements: int = 0
    errors: int = 0
    warnings: int = 0
    suppressed: int = 0
    notes: int = 0  # info findings


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """``finding.LintReport``."""

    version: str
    pg_version: int
    schema_version: int = SCHEMA_VERSION
    tool: str = "expandctl"
    fail_on: Severity = "error"
    files: list[FileRecord] = field(default_factory=list)
    findings: list[FindingRecord] = field(default_factory=list)
    summary: SummaryRecord = field(default_factory=SummaryRecord)

    @property
    def failed(self) -> bool:
        """True when the gate should fail (exit code 1); as ``LintReport.failed``."""
        return report_failed(self)


FILE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FileRecord))
SUMMARY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SummaryRecord))


class FindingView(Protocol):
    """What the renderers read of a finding (a record or a ``Finding``)."""

    @property
    def rule_id(self) -> str: ...
    @property
    def rule_name(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def path(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...
    @property
    def end_line(self) -> int: ...
    @property
    def phase(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def fix(self) -> str: ...
    @property
    def source_line(self) -> str: ...
    @property
    def location(self) -> str: ...


class FileView(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def rollback(self) -> bool: ...
    @property
    def statements(self) -> int: ...


class SummaryView(Protocol):
    @property
    def files(self) -> int: ...
    @property
    def statements(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def warnings(self) -> int: ...
    @property
    def suppressed(self) -> int: ...
    @property
    def notes(self) -> int: ...


class ReportView(Protocol):
    """What the renderers read of a report (a ``ReportRecord`` or a ``LintReport``)."""

    @property
    def schema_version(self) -> int: ...
    @property
    def tool(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def pg_version(self) -> int: ...
    @property
    def fail_on(self) -> Severity: ...
    @property
    def files(self) -> Sequence[FileView]: ...
    @property
    def findings(self) -> Sequence[FindingView]: ...
    @property
    def summary(self) -> SummaryView: ...
    @property
    def failed(self) -> bool: ...


def report_failed(report: ReportView) -> bool:
    if report.fail_on == "warning":
        return any(f.severity != "info" for f in report.findings)
    return report.summary.errors > 0


def finding_dict(finding: FindingView) -> dict[str, Any]:
    """A finding as JSON data, keys in the schema's order."""
    return {name: getattr(finding, name) for name in FINDING_FIELDS}


def report_json(report: ReportView) -> str:
    """The report as ``LintReport.model_dump_json(indent=2)`` writes it, from either kind.

    Written out here rather than by ``json.dumps(..., indent=2)``: with an
    indent, the standard library encodes in pure Python, several times slower
    than linting for 10,000 findings. The shape is fixed (flat objects in
    lists), so each value is encoded alone by the C string encoder.
    """
    top = [
        ("schema_version", _scalar(report.schema_version)),
        ("tool", _scalar(report.tool)),
        ("version", _scalar(report.version)),
        ("pg_version", _scalar(report.pg_version)),
        ("fail_on", _scalar(report.fail_on)),
        ("files", _objects(report.files, FILE_FIELDS, "  ")),
        ("findings", _objects(report.findings, FINDING_FIELDS, "  ")),
        ("summary", _object(_values(report.summary, SUMMARY_FIELDS), "  ")),
    ]
    return _object(top, "")


def _values(item: object, names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(name, _scalar(getattr(item, name))) for name in names]


def _scalar(value: object) -> str:
    try:
        return _ENCODERS[type(value)](value)
    except KeyError:
        raise TypeError(f"not a JSON scalar of the report: {value!r}") from None


# By exact type (bool is not int here): one lookup and a C call for a string.
_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,
    bool: lambda value: "true" if value else "false",
    int: int.__repr__,
}


def _object(items: Iterable[tuple[str, str]], pad: str) -> str:
    """``{"key": value, ...}`` of encoded values, indented as ``json.dumps(indent=2)``."""
    inner = pad + "  "
    body = ",\n".join(f'{inner}"{key}": {value}' for key, value in items)
    return f"{{\n{body}\n{pad}}}" if body else "{}"


def _objects(objects: Sequence[object], names: tuple[str, ...], pad: str) -> str:
    """``[{...}, ...]`` of flat objects with the fields ``names``, as ``_object`` would
    write each: one %-template for all of them (thousands of findings), filled
    with each object's encoded values."""
    if not objects:
        return "[]"
    assert len(names) > 1, "attrgetter returns a tuple"
    inner = pad + "  "
    lines = ",\n".join(f'{inner}  "{name}": %s' for name in names)
    template = inner + "{\n" + lines + "\n" + inner + "}"  # field names hold no "%"
    values = attrgetter(*names)
    encoders = _ENCODERS
    try:
        body = ",\n".join(
            template % tuple([encoders[type(value)](value) for value in values(item)])
            for item in objects
        )
    except KeyError:  # a value of another type: say which
        for item in objects:
            for value in values(item):
                _scalar(value)
        raise
    return f"[\n{body}\n{pad}]"
