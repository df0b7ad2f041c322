"""Run the rules over SQL text and over a migration's phase files.

``lint_sql`` and ``lint_migration`` are the stable public API: the engine's
``plan`` and the declarative operations lint the SQL they generate through
exactly these functions, so it meets the very same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from expandctl.lint.context import LintContext
from expandctl.lint.finding import Finding
from expandctl.lint.registry import RuleSet, rule_set
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules.invalid_suppression import InvalidSuppression
from expandctl.lint.rules.unused_suppression import UnusedSuppression
from expandctl.lint.source import Statement, read_statements
from expandctl.lint.suppressions import read_suppressions
from expandctl.model.migration import Migration
from expandctl.model.ops.base import OperationBase
from expandctl.model.ops.registry import (
    AUTOCOMMIT_MARKER,
    migration_operation_steps,
    plan_retires,
    steps_as_sql,
)
from expandctl.model.phases import PHASES, Phase


@dataclass
class FileResult:
    """The findings of one SQL source (a file, stdin, or an operation's SQL)."""

    path: str
    phase: Phase
    rollback: bool
    statements: int = 0
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0


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
    generated: bool = False,
) -> FileResult:
    """Like ``lint_sql`` but also says how many statements and suppressions there were.

    ``generated``: the text is the operations' SQL (``steps_as_sql``), whose
    autocommit marker comments say which statements the engine runs alone.
    """
    ctx = context if context is not None else LintContext()
    ctx.phase, ctx.pg_version, ctx.rollback = phase, pg_version, rollback
    ruleset = rules if rules is not None else rule_set()
    statements = read_statements(text)
    alone = _planned_alone(text, statements) if generated else set()
    applicable = [r for r in ruleset.rules if r.applies(ctx)]
    by_type, generic = ruleset.dispatch(phase.value, rollback, applicable)
    hits: list[tuple[Rule, Statement, Violation]] = []
    for statement in statements:
        ctx.planned_alone = statement.index in alone
        for action in statement.actions:
            for rule in (*by_type.get(type(action), ()), *generic):
                hits.extend((rule, statement, v) for v in rule.check(action, statement, ctx))
        ctx.apply(statement, statement.actions)
    ctx.planned_alone = False
    for rule in applicable:
        hits.extend((rule, statement, v) for statement, v in rule.finish(ctx))
    result = FileResult(
        path=source_name, phase=phase, rollback=rollback, statements=len(statements)
    )
    _collect(result, text, statements, hits, ruleset)
    result.findings.sort(key=lambda f: (f.line, f.column, f.rule_id))
    return result


def _planned_alone(text: str, statements: list[Statement]) -> set[int]:
    """Indexes of statements right after an AUTOCOMMIT_MARKER comment."""
    alone: set[int] = set()
    previous_end = 0
    for statement in statements:
        if AUTOCOMMIT_MARKER in text[previous_end : statement.sql.start]:
            alone.add(statement.index)
        previous_end = statement.sql.start + len(statement.sql.text)
    return alone


def _collect(
    result: FileResult,
    text: str,
    statements: list[Statement],
    hits: list[tuple[Rule, Statement, Violation]],
    ruleset: RuleSet,
) -> None:
    per_statement, file_level, problems = read_suppressions(text, [s.sql.start for s in statements])
    lines = text.splitlines()
    for rule, statement, violation in hits:
        suppressions = [*per_statement.get(statement.index, ()), *file_level]
        matching = [s for s in suppressions if rule.id in s.rule_ids]
        if matching:
            for suppression in matching:
                suppression.used = True
            result.suppressed += 1
            continue
        where = (statement.line, statement.column, statement.sql.end_line)
        result.findings.append(
            _finding(rule, ruleset, result, where, violation, statement.source_line)
        )
    for problem in problems:
        if ruleset.enabled(InvalidSuppression.id):
            violation = Violation(
                f"invalid suppression {problem.text.strip()!r}: {problem.message}.",
                "write '-- expandctl-ignore: <rule>[, <rule>] <reason>' above the statement.",
            )
            at = (problem.line, problem.column)
            result.findings.append(
                _comment_finding(InvalidSuppression(), ruleset, result, lines, at, violation)
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
            _comment_finding(UnusedSuppression(), ruleset, result, lines, at, violation)
        )


def _comment_finding(
    rule: Rule,
    ruleset: RuleSet,
    result: FileResult,
    lines: list[str],
    at: tuple[int, int],
    violation: Violation,
) -> Finding:
    """A finding about a suppression comment itself: it points at the comment, not a statement."""
    line, column = at
    source = lines[line - 1] if line <= len(lines) else ""
    return _finding(rule, ruleset, result, (line, column, line), violation, source)


def _finding(
    rule: Rule,
    ruleset: RuleSet,
    result: FileResult,
    where: tuple[int, int, int],
    violation: Violation,
    source_line: str,
) -> Finding:
    line, column, end_line = where
    # model_construct: every field is built here from checked values; validating
    # thousands of findings again would only cost time.
    return Finding.model_construct(
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
) -> list[FileResult]:
    """Lint every phase file (and operation SQL) of a migration with its own phase's rules.

    Phases are linted in order with one context, so what expand created is
    known to be new in later phases, and contract sees the manifest's
    ``retires``. Each rollback file is linted as a rollback of its phase: it
    may drop what the phase's forward SQL created.
    """
    ruleset = rules if rules is not None else rule_set()
    operations = [op for op in migration.manifest.operations if isinstance(op, OperationBase)]
    # What the declarative operations remove in contract counts as declared too.
    retires = {*migration.manifest.retires, *plan_retires(operations, migration_id=migration.id)}
    ctx = LintContext(pg_version=pg_version, retires=frozenset(retires), managed_transactions=True)
    results: list[FileResult] = []
    for phase in PHASES:
        earlier = set(ctx.migration_created)
        for name, text in _sources(migration, phase, pg_version, rollback=False):
            results.append(_lint_named(name, text, phase, pg_version, ctx, ruleset, rollback=False))
        forward_created = set(ctx.file_created)
        ctx.next_file()
        if not phase.reversible:
            continue
        for name, text in _sources(migration, phase, pg_version, rollback=True):
            down_ctx = LintContext(
                pg_version=pg_version,
                migration_created=set(earlier),
                forward_created=forward_created,
                linked_tables={table: set(links) for table, links in ctx.linked_tables.items()},
                managed_transactions=True,
            )
            results.append(
                _lint_named(name, text, phase, pg_version, down_ctx, ruleset, rollback=True)
            )
    return results


def _lint_named(
    name: str,
    text: str,
    phase: Phase,
    pg_version: int,
    ctx: LintContext,
    ruleset: RuleSet,
    *,
    rollback: bool,
) -> FileResult:
    """One of ``_sources``: the operations' SQL is recognised by its name (autocommit markers)."""
    return lint_source(
        text,
        phase=phase,
        source_name=name,
        pg_version=pg_version,
        context=ctx,
        rules=ruleset,
        rollback=rollback,
        generated=name.endswith(_GENERATED_SUFFIXES),
    )


# The operations' SQL is named after the manifest (see _sources).
_GENERATED_SUFFIXES = tuple(
    f"migration.toml#operations.{phase.value}{down}" for phase in PHASES for down in ("", ".down")
)


def _sources(
    migration: Migration, phase: Phase, pg_version: int, *, rollback: bool
) -> list[tuple[str, str]]:
    """The SQL the declarative operations generate for the phase, then the phase file.

    That is the order ``advance`` runs them in (``model.planning.plan_phase``),
    and the operations' SQL is exactly what ``plan`` prints (``steps_as_sql``),
    so it meets the very same rules as hand-written SQL.
    """
    out: list[tuple[str, str]] = []
    steps = migration_operation_steps(
        migration, phase, rollback=rollback, server_version=pg_version
    )
    text = steps_as_sql(steps)
    if text.strip():
        suffix = ".down" if rollback else ""
        out.append((f"{migration.path}/migration.toml#operations.{phase.value}{suffix}", text))
    sql_file = migration.rollback_sql(phase) if rollback else migration.forward_sql(phase)
    if sql_file is not None:
        out.append((sql_file.path, sql_file.text))
    return out
