"""Run the rules over SQL text and over a migration's planned steps.

``lint_sql``, ``lint_source`` and ``lint_migration`` are the stable public
API; their findings are ``finding.Finding`` models. ``expandctl lint`` calls
the ``*_records`` forms, whose findings are plain records: it never needs the
models, and importing pydantic would cost more than linting a small file.

``lint_migration`` walks the steps ``advance`` runs (``planned``), so
generated and hand-written SQL meet the very same rules, in the same
transaction groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expandctl.lint.context import LintContext
from expandctl.lint.planned import PlannedSource, PlannedStatement, phase_sources
from expandctl.lint.records import FindingRecord
from expandctl.lint.registry import RuleSet, rule_set
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules.invalid_suppression import InvalidSuppression
from expandctl.lint.rules.unused_suppression import UnusedSuppression
from expandctl.lint.source import BOM, Statement, read_source
from expandctl.lint.suppressions import accepts, read_suppressions
from expandctl.model.phases import PHASES, Phase
from expandctl.model.sql_steps import needs_autocommit

if TYPE_CHECKING:  # a plain .sql file needs no migration model (imported below)
    from expandctl.lint.finding import Finding
    from expandctl.model.migration import Migration


@dataclass
class FileResult:
    """The findings of one SQL source (a file, stdin, or an operation's SQL)."""

    path: str
    phase: Phase
    rollback: bool
    statements: int = 0
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0


@dataclass
class SourceResult:
    """``FileResult`` with the findings as plain records (``records.FindingRecord``)."""

    path: str
    phase: Phase
    rollback: bool
    statements: int = 0
    findings: list[FindingRecord] = field(default_factory=list)
    suppressed: int = 0

    def public(self) -> FileResult:
        from expandctl.lint.finding import Finding

        return FileResult(
            path=self.path,
            phase=self.phase,
            rollback=self.rollback,
            statements=self.statements,
            findings=[Finding.of(f) for f in self.findings],
            suppressed=self.suppressed,
        )


def lint_sql(
    text: str,
    *,
    phase: Phase,
    source_name: str,
    pg_version: int = 15,
    context: LintContext | None = None,
    rules: RuleSet | None = None,
    rollback: bool = False,
) -> list[Finding]:
    """Lint ``text`` as the SQL of ``phase``; findings sorted by position.

    ``context`` carries what earlier files of the same migration created and
    what it retires; it is updated in place, so several texts of one phase
    can be linted in sequence (call ``context.next_file()`` between phases).
    """
    return lint_source(
        text,
        phase=phase,
        source_name=source_name,
        pg_version=pg_version,
        context=context,
        rules=rules,
        rollback=rollback,
    ).findings


def lint_source(
    text: str,
    *,
    phase: Phase,
    source_name: str,
    pg_version: int = 15,
    context: LintContext | None = None,
    rules: RuleSet | None = None,
    rollback: bool = False,
) -> FileResult:
    """Like ``lint_sql`` but also says how many statements and suppressions there were.

    Text outside a plan: with ``context.managed_transactions`` the statements
    are grouped as ``advance`` would group them, by ``needs_autocommit``.
    """
    return lint_source_records(
        text,
        phase=phase,
        source_name=source_name,
        pg_version=pg_version,
        context=context,
        rules=rules,
        rollback=rollback,
    ).public()


def lint_source_records(
    text: str,
    *,
    phase: Phase,
    source_name: str,
    pg_version: int = 15,
    context: LintContext | None = None,
    rules: RuleSet | None = None,
    rollback: bool = False,
) -> SourceResult:
    """``lint_source``, findings as records."""
    ctx = context if context is not None else LintContext()
    text = text.removeprefix(BOM)  # stdin: the same offsets as the statements'
    read = read_source(text, pg_version=pg_version)
    managed = ctx.managed_transactions
    planned = [
        PlannedStatement(
            s,
            alone=managed and needs_autocommit(s.sql.text, server_version=pg_version),
            after_commit=False,
        )
        for s in read.statements
    ]
    source = PlannedSource(
        path=source_name, text=text, statements=tuple(planned), notes=tuple(read.notes)
    )
    return _lint_planned(source, phase, pg_version, ctx, rules, rollback=rollback)


def _lint_planned(
    source: PlannedSource,
    phase: Phase,
    pg_version: int,
    ctx: LintContext,
    rules: RuleSet | None,
    *,
    rollback: bool,
) -> SourceResult:
    ctx.phase, ctx.pg_version, ctx.rollback = phase, pg_version, rollback
    ruleset = rules if rules is not None else rule_set()
    dispatch = ruleset.dispatch(phase, rollback)
    by_type, every = dispatch.by_type, dispatch.every
    checks: dict[type, tuple[Rule, ...]] = {}
    hits: list[tuple[Rule, Statement, Violation]] = []
    for planned in source.statements:
        statement = planned.statement
        if planned.after_commit:
            ctx.end_group()
        ctx.runs_alone = planned.alone
        for action in statement.actions:
            kind = type(action)
            rules_here = checks.get(kind)
            if rules_here is None:
                rules_here = checks[kind] = (*by_type.get(kind, ()), *every)
            for rule in rules_here:
                for violation in rule.check(action, statement, ctx):
                    hits.append((rule, statement, violation))
        ctx.apply(statement, statement.actions)
    ctx.runs_alone = False
    for note in source.notes:  # not statements: only the rules of their own action
        for action in note.actions:
            for rule in by_type.get(type(action), ()):
                hits.extend((rule, note, v) for v in rule.check(action, note, ctx))
    for rule in dispatch.finishing:
        hits.extend((rule, statement, v) for statement, v in rule.finish(ctx))
    result = SourceResult(
        path=source.path, phase=phase, rollback=rollback, statements=len(source.statements)
    )
    _collect(result, source, hits, ruleset)
    result.findings.sort(key=lambda f: (f.line, f.column, f.rule_id))
    return result


def _collect(
    result: SourceResult,
    source: PlannedSource,
    hits: list[tuple[Rule, Statement, Violation]],
    ruleset: RuleSet,
) -> None:
    text = source.text
    starts = [p.statement.sql.start for p in source.statements]
    per_statement, file_level, problems = read_suppressions(text, starts)
    del starts
    operations = {p.statement.index: p.operation for p in source.statements if p.operation}
    accepted = {p.statement.index: p.accepted for p in source.statements if p.accepted}
    for rule, statement, violation in hits:
        if accepts(accepted.get(statement.index, ()), rule.id):
            result.suppressed += 1  # an operation's own statement, safe by its design
            continue
        suppressions = [*per_statement.get(statement.index, ()), *file_level]
        matching = [s for s in suppressions if rule.id in s.rule_ids]
        if matching:
            for suppression in matching:
                suppression.used = True
            result.suppressed += 1
            continue
        where = (statement.line, statement.column, statement.sql.end_line)
        source_line = statement.source_line
        if violation.at is not None:  # a position inside the statement (a syntax error)
            where = (*violation.at, violation.at[0])
            source_line = _line_of(text, violation.at[0])
        operation = operations.get(statement.index)
        if operation is not None:  # generated SQL: say which operation wrote it
            violation = Violation(f"{operation}: {violation.message}", violation.fix)
        result.findings.append(_finding(rule, ruleset, result, where, violation, source_line))
    for problem in problems:
        if ruleset.enabled(InvalidSuppression.id):
            violation = Violation(
                f"invalid suppression {problem.text.strip()!r}: {problem.message}.",
                "write '-- expandctl-ignore: <rule>[, <rule>] <reason>' above the statement.",
            )
            at = (problem.line, problem.column)
            result.findings.append(
                _comment_finding(InvalidSuppression(), ruleset, result, text, at, violation)
            )
    if not ruleset.enabled(UnusedSuppression.id):
        return
    every = [s for group in per_statement.values() for s in group] + file_level
    for suppression in every:
        if suppression.used or not all(ruleset.enabled(i) for i in suppression.rule_ids):
            continue
        violation = Violation(
            f"suppression of {', '.join(sorted(suppression.rule_ids))} suppressed nothing.",
            "remove the comment (the statement below is no longer flagged).",
        )
        at = (suppression.line, suppression.column)
        result.findings.append(
            _comment_finding(UnusedSuppression(), ruleset, result, text, at, violation)
        )


def _comment_finding(
    rule: Rule,
    ruleset: RuleSet,
    result: SourceResult,
    text: str,
    at: tuple[int, int],
    violation: Violation,
) -> FindingRecord:
    """A finding about a suppression comment itself: it points at the comment, not a statement."""
    line, column = at
    source = _line_of(text, line)
    return _finding(rule, ruleset, result, (line, column, line), violation, source)


def _line_of(text: str, line: int) -> str:
    """The text of 1-based ``line``, without splitting a big file into a list of lines."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def _finding(
    rule: Rule,
    ruleset: RuleSet,
    result: SourceResult,
    where: tuple[int, int, int],
    violation: Violation,
    source_line: str,
) -> FindingRecord:
    line, column, end_line = where
    return FindingRecord(
        rule_id=rule.id,
        rule_name=rule.name,
        group=rule.group,
        severity=ruleset.severities.get(rule.id, rule.severity),
        path=result.path,
        line=line,
        column=column,
        end_line=max(end_line, line),
        phase=result.phase.value,
        message=violation.message,
        fix=violation.fix,
        source_line=source_line,
    )


# --- migrations -------------------------------------------------------------


def lint_migration(
    migration: Migration,
    *,
    pg_version: int = 15,
    rules: RuleSet | None = None,
    until: tuple[Phase, bool] | None = None,
) -> list[FileResult]:
    """Lint the steps every phase of a migration runs, with that phase's own rules.

    ``until=(phase, rollback)``: stop once that phase in that direction is linted
    (what comes after it cannot change its findings).

    Each phase is walked as ``advance`` plans it (``planned.phase_sources``):
    the operations' SQL (one result named ``migration.toml#operations.<phase>``),
    then the phase file, in one transaction-group context. Phases are linted
    in order with one context, so what expand created is known to be new in
    later phases, and contract sees the manifest's ``retires``. Each rollback
    is linted as a rollback of its phase: it may drop what the phase's
    forward steps created.
    """
    return [
        r.public()
        for r in lint_migration_records(migration, pg_version=pg_version, rules=rules, until=until)
    ]


def lint_migration_records(
    migration: Migration,
    *,
    pg_version: int = 15,
    rules: RuleSet | None = None,
    until: tuple[Phase, bool] | None = None,
) -> list[SourceResult]:
    """``lint_migration``, findings as records."""
    from expandctl.model.ops.base import OperationBase
    from expandctl.model.ops.registry import plan_retires

    ruleset = rules if rules is not None else rule_set()
    operations = [op for op in migration.manifest.operations if isinstance(op, OperationBase)]
    # What the declarative operations remove in contract counts as declared too.
    retires = {*migration.manifest.retires, *plan_retires(operations, migration_id=migration.id)}
    ctx = LintContext(pg_version=pg_version, retires=frozenset(retires), managed_transactions=True)
    results: list[SourceResult] = []
    for phase in PHASES:
        earlier = set(ctx.migration_created)
        for source in phase_sources(migration, phase, rollback=False, pg_version=pg_version):
            results.append(_lint_planned(source, phase, pg_version, ctx, ruleset, rollback=False))
        forward_created = set(ctx.file_created)
        ctx.next_file()
        if until == (phase, False):
            break
        if not phase.reversible:
            continue
        down_ctx = LintContext(
            pg_version=pg_version,
            migration_created=earlier,
            forward_created=forward_created,
            linked_tables={table: set(links) for table, links in ctx.linked_tables.items()},
            managed_transactions=True,
        )
        for source in phase_sources(migration, phase, rollback=True, pg_version=pg_version):
            results.append(
                _lint_planned(source, phase, pg_version, down_ctx, ruleset, rollback=True)
            )
    return results
