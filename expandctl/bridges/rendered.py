"""Lint revisions one by one: each is its own migration, in its own phase.

Linting a whole ``upgrade --sql`` stream as one file makes every table an
earlier revision created look new (and so exempt from lock rules). Here each
revision gets a fresh lint context, so what earlier revisions created counts
as existing, and its findings point at the revision file, at the line of the
operation that produced the statement when the tool lets us see it.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from expandctl import __version__
from expandctl.lint import LintReport, lint_source
from expandctl.lint.finding import Finding, LintedFile, Severity, Summary
from expandctl.lint.registry import RuleSet
from expandctl.lint.runner import FileResult
from expandctl.model.phases import Phase


@dataclass
class RenderedRevision:
    """One revision's SQL as its tool renders it offline, and where each part came from."""

    label: str  # "alembic 1a2b3c4d5e6f", "shop.0003_rename"
    path: Path  # the revision's .py file
    phase: Phase
    sql: str = ""
    # (line in ``sql``, line in ``path``): where each rendered part starts, in order
    origins: list[tuple[int, int]] = field(default_factory=list)

    def add(self, text: str, source_line: int | None) -> None:
        """Append rendered SQL; ``source_line`` is the revision line that produced it."""
        if source_line is not None:
            self.origins.append((self.sql.count("\n") + 1, source_line))
        self.sql += text

    def source_line(self, sql_line: int) -> int | None:
        """The revision line that produced the statement at ``sql_line``, if known."""
        starts = [start for start, _ in self.origins]
        at = bisect.bisect_right(starts, sql_line) - 1
        return self.origins[at][1] if at >= 0 else None


def lint_revisions(
    revisions: Sequence[RenderedRevision],
    *,
    pg_version: int,
    rules: RuleSet,
    fail_on: Severity,
    cwd: Path,
) -> LintReport:
    """Every revision linted alone, as the phase it is marked with."""
    results = [_lint_one(revision, pg_version, rules, cwd) for revision in revisions]
    findings = [f for r in results for f in r.findings]
    return LintReport(
        version=__version__,
        pg_version=pg_version,
        fail_on=fail_on,
        files=[
            LintedFile(path=r.path, phase=r.phase.value, statements=r.statements) for r in results
        ],
        findings=findings,
        summary=Summary(
            files=len(results),
            statements=sum(r.statements for r in results),
            errors=sum(f.severity == "error" for f in findings),
            warnings=sum(f.severity == "warning" for f in findings),
            suppressed=sum(r.suppressed for r in results),
        ),
    )


def _lint_one(revision: RenderedRevision, pg_version: int, rules: RuleSet, cwd: Path) -> FileResult:
    shown = _relative(revision.path, cwd)
    result = lint_source(
        revision.sql,
        phase=revision.phase,
        source_name=shown,
        pg_version=pg_version,
        rules=rules,
    )
    result.path = shown
    result.findings = [_at_revision(f, revision, shown) for f in result.findings]
    return result


def _at_revision(finding: Finding, revision: RenderedRevision, shown: str) -> Finding:
    """The finding at the revision's line that produced it (the SQL stays the source line)."""
    line = revision.source_line(finding.line)
    message = f"{revision.label}: {finding.message}"
    if line is None:  # not traced to an operation: the file, and where in its SQL
        message = f"{message} (line {finding.line} of its rendered SQL)"
        line = 1
    return finding.model_copy(
        update={"path": shown, "line": line, "end_line": line, "column": 1, "message": message}
    )


def _relative(path: Path, cwd: Path) -> str:
    try:
        rel = os.path.relpath(path.resolve(), cwd.resolve())
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
