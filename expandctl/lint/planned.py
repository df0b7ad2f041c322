"""A phase's plan as the linter reads it: the steps ``advance`` runs, in its order.

``model.planning`` plans a phase as the operations' steps, then the phase
file's. The linter walks the same steps. It still reads text, for what only
text has: positions, the statements' tokens, and the phase file's
suppression comments. Generated SQL carries no comments: what an operation
knows its statement trips, and why that is safe, is the step's ``accepted``.
Whether a statement runs alone (and so ends the
transaction group before it) is the step's ``autocommit``, never re-derived
from the text. Steps that are not SQL (backfills, checkpoint resets, catalog
checks) are not linted; one that runs alone still ends the group, as it
does in the engine.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expandctl.lint.source import Statement, read_source
from expandctl.model.phases import Phase

if TYPE_CHECKING:
    # The migration models (every operation's pydantic model) are imported by
    # phase_sources only: linting a plain .sql file needs none of them.
    from expandctl.model.migration import Migration
    from expandctl.model.steps import AcceptedHazard, SqlStep, Step


@dataclass(frozen=True, slots=True)  # one per statement: a 10 MB file has ~280k
class PlannedStatement:
    """One statement of the plan with what the plan says about it."""

    statement: Statement
    alone: bool  # its step runs alone, in autocommit: the group before it committed
    after_commit: bool  # a non-SQL step that runs alone came just before it
    operation: str | None = None  # "operation 2 (add_column)" for generated SQL
    # Generated SQL only: findings its operation accepts, counted as suppressed.
    accepted: tuple[AcceptedHazard, ...] = ()


@dataclass(frozen=True)
class PlannedSource:
    """The part of a phase's plan that comes from one source, with its text."""

    path: str
    text: str  # the phase file, or the operations' steps rendered for display
    statements: tuple[PlannedStatement, ...]
    notes: tuple[Statement, ...] = ()  # psql commands, COPY data, placeholders (source.py)


def phase_sources(
    migration: Migration, phase: Phase, *, rollback: bool, pg_version: int
) -> list[PlannedSource]:
    """The operations' steps for the phase, then the phase (or ``.down``) file's.

    What ``plan_phase`` returns, minus the manifest's own backfills (a
    phase's first steps, which end no group), and without refusing: a
    missing reverse or transaction control in a phase file is reported by
    ``advance`` and by the rules, not by a crash here.
    """
    from expandctl.model.planning import file_steps, operation_steps

    sources: list[PlannedSource] = []
    if rollback and phase is Phase.BACKFILL:
        return sources  # undoing backfill only forgets its checkpoints: no SQL runs
    generated = operation_steps(migration, phase, rollback=rollback, server_version=pg_version)
    carry = False
    if generated:
        suffix = ".down" if rollback else ""
        path = f"{migration.path}/migration.toml#operations.{phase.value}{suffix}"
        names = _operation_names(migration)
        source, carry = _generated(path, generated, names, pg_version=pg_version)
        sources.append(source)
    sql_file = migration.rollback_sql(phase) if rollback else migration.forward_sql(phase)
    if sql_file is not None:
        steps = file_steps(
            migration,
            phase,
            rollback=rollback,
            server_version=pg_version,
            refuse_transaction_control=False,
        )
        sources.append(
            _from_file(
                sql_file.path, sql_file.text, steps, after_commit=carry, pg_version=pg_version
            )
        )
    return sources


def _generated(
    path: str, steps: Sequence[Step], names: dict[str, str], *, pg_version: int = 15
) -> tuple[PlannedSource, bool]:
    """The operations' steps; also whether a non-SQL step that runs alone ends them."""
    from expandctl.model.ops.registry import render_steps
    from expandctl.model.steps import SqlStep

    text, starts = render_steps(steps)
    planned: list[PlannedStatement] = []
    previous = -1
    read = read_source(text, pg_version=pg_version)
    for statement in read.statements:
        at = bisect_right(starts, statement.sql.start) - 1
        step = steps[at]
        if not isinstance(step, SqlStep):
            continue  # only SQL steps render as statements; other steps are comments
        planned.append(
            PlannedStatement(
                statement,
                alone=step.autocommit,
                after_commit=_commits_between(steps, previous, at),
                operation=names.get(step.source, step.source),
                accepted=step.accepted,
            )
        )
        previous = at
    source = PlannedSource(path=path, text=text, statements=tuple(planned), notes=tuple(read.notes))
    return source, _commits_between(steps, previous, len(steps))


def _commits_between(steps: Sequence[Step], after: int, before: int) -> bool:
    return any(s.autocommit and s.kind != "sql" for s in steps[after + 1 : before])


def _from_file(
    path: str, text: str, steps: Sequence[SqlStep], *, after_commit: bool, pg_version: int = 15
) -> PlannedSource:
    """A phase file: each statement meets the step planned from it (same splitter, same line)."""
    by_line: dict[int, deque[SqlStep]] = defaultdict(deque)
    for step in steps:
        by_line[step.line or 0].append(step)
    planned: list[PlannedStatement] = []
    read = read_source(text, pg_version=pg_version)
    for statement in read.statements:
        queue = by_line.get(statement.line)
        alone = queue.popleft().autocommit if queue else False
        planned.append(PlannedStatement(statement, alone=alone, after_commit=after_commit))
        after_commit = False
    notes = tuple(read.notes)
    return PlannedSource(path=path, text=text, statements=tuple(planned), notes=notes)


def _operation_names(migration: Migration) -> dict[str, str]:
    """``operation 2`` (a generated step's source) -> ``operation 2 (add_column)``."""
    names: dict[str, str] = {}
    for position, op in enumerate(migration.manifest.operations):
        source = f"operation {position + 1}"
        names[source] = f"{source} ({getattr(op, 'op', type(op).__name__)})"
    return names
