"""Turn a migration's files and manifest into the PhasePlan ``advance`` runs.

Pure: no database. Steps come from two sources, concatenated in this order:
the declarative operations (each produces steps for a phase; see
OPERATION_PLANNERS) and then the phase's SQL file. The engine never decides
what to run; it runs what this module returns.
"""

from __future__ import annotations

import re
from pathlib import Path

from expandctl.errors import ManifestError, StateError
from expandctl.model.migration import Migration
from expandctl.model.ops.registry import migration_operation_steps, operations_backfill
from expandctl.model.ops.sql_op import SqlOperation
from expandctl.model.phases import Phase
from expandctl.model.sql_split import find_comments, split_statements
from expandctl.model.steps import (
    BackfillStep,
    Direction,
    GateCheck,
    PhasePlan,
    ResetBackfillStep,
    SqlStep,
    Step,
)

# PostgreSQL refuses these inside a transaction block ("cannot run inside a
# transaction block"); they run alone, in autocommit. This is the one list:
# the engine groups by it and the linter reads the plan's steps (or, for SQL
# outside a migration, asks needs_autocommit). CLUSTER of one table and
# REINDEX of one table or index do run in a transaction; without a table
# CLUSTER re-clusters every table, and REINDEX SCHEMA/DATABASE/SYSTEM do not.
_NO_TRANSACTION = [
    re.compile(p, re.I)
    for p in (
        r"^create\s+(unique\s+)?index\s+concurrently\b",
        r"^drop\s+index\s+concurrently\b",
        r"^reindex\b.*\bconcurrently\b",
        r"^reindex\s+(\([^)]*\)\s*)?(schema|database|system)\b",
        r"^alter\s+table\b.*\bdetach\s+partition\b.*\bconcurrently\b",
        r"^vacuum\b",
        r"^cluster\s*(\([^)]*\)|verbose)?\s*$",
        r"^create\s+database\b",
        r"^drop\s+database\b",
        r"^alter\s+database\b.*\bset\s+tablespace\b",
        r"^(create|drop)\s+tablespace\b",
        r"^alter\s+system\b",
    )
]
_ADD_ENUM_VALUE = re.compile(r"^alter\s+type\b.*\badd\s+value\b", re.I)
_TRANSACTION_CONTROL = re.compile(
    r"^(begin|commit|rollback|end|start\s+transaction|savepoint|release|abort)\b", re.I
)
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_CREATE_INDEX = re.compile(
    rf"^create\s+(?:unique\s+)?index\s+concurrently\s+(?:if\s+not\s+exists\s+)?"
    rf"(?P<name>{_NAME}(?:\.{_NAME})?)\s+on\b",
    re.I,
)
_DROP_INDEX = re.compile(
    rf"^drop\s+index\s+concurrently\s+(?:if\s+exists\s+)?(?P<name>{_NAME}(?:\.{_NAME})?)\s*"
    r"(?:cascade|restrict)?\s*$",
    re.I,
)

# ALTER TYPE ... ADD VALUE may run inside a transaction from PostgreSQL 12 on.
ENUM_IN_TRANSACTION_SINCE = 12


def without_comments(sql: str) -> str:
    """The statement with comments removed and whitespace collapsed, for matching."""
    pieces: list[str] = []
    last = 0
    for comment in find_comments(sql):
        pieces.append(sql[last : comment.start])
        last = comment.start + len(comment.text)
    pieces.append(sql[last:])
    return " ".join("".join(pieces).split())


def needs_autocommit(sql: str, *, server_version: int) -> bool:
    """True when PostgreSQL refuses ``sql`` inside a transaction block: it runs alone."""
    text = without_comments(sql)
    if any(p.search(text) for p in _NO_TRANSACTION):
        return True
    return server_version < ENUM_IN_TRANSACTION_SINCE and bool(_ADD_ENUM_VALUE.search(text))


def sql_steps(
    text: str,
    *,
    source: str,
    path: str | None = None,
    server_version: int,
    refuse_transaction_control: bool = True,
) -> list[SqlStep]:
    """One step per statement; empty or comment-only text gives no steps.

    ``refuse_transaction_control=False`` is for the linter, which reports
    BEGIN/COMMIT in a phase file as a finding (T404) instead of stopping.
    """
    steps: list[SqlStep] = []
    for statement in split_statements(text):
        bare = without_comments(statement.text)
        if not bare:
            continue
        if refuse_transaction_control and _TRANSACTION_CONTROL.match(bare):
            raise ManifestError(
                f"transaction control ({bare.split()[0].upper()}) in a phase file",
                path=path or source,
                line=statement.line,
                hint="remove it: expandctl groups statements into transactions itself",
            )
        create = _CREATE_INDEX.match(bare)
        drop = _DROP_INDEX.match(bare)
        index_match = create or drop
        steps.append(
            SqlStep(
                sql=statement.text,
                source=source,
                line=statement.line,
                autocommit=needs_autocommit(bare, server_version=server_version),
                concurrent_index=index_match["name"] if index_match else None,
                concurrent_action="create" if create else ("drop" if drop else None),
            )
        )
    return steps


# --- operations: each produces steps for a phase; the planner concatenates them ---


def operation_steps(
    migration: Migration, phase: Phase, *, rollback: bool, server_version: int
) -> list[Step]:
    """The declarative operations' steps for ``phase`` (in reverse order when undoing).

    Each operation plans itself (expandctl.model.ops: ``forward``/``reverse``
    return steps); the registry there numbers their backfills after the
    manifest's own ``[[backfill]]`` entries.
    """
    return migration_operation_steps(
        migration, phase, rollback=rollback, server_version=server_version
    )


def file_steps(
    migration: Migration,
    phase: Phase,
    *,
    rollback: bool,
    server_version: int,
    refuse_transaction_control: bool = True,
) -> list[SqlStep]:
    """The phase file's (or its ``.down`` file's) statements, one step each."""
    sql_file = migration.rollback_sql(phase) if rollback else migration.forward_sql(phase)
    if sql_file is None:
        return []
    return sql_steps(
        sql_file.text,
        source=sql_file.name,
        path=sql_file.path,
        server_version=server_version,
        refuse_transaction_control=refuse_transaction_control,
    )


def gate_checks(migration: Migration, phase: Phase) -> list[GateCheck]:
    spec = migration.manifest.gates.get(phase)
    if spec is None:
        return []
    gates: list[GateCheck] = []
    if spec.min_soak is not None:
        gates.append(GateCheck(kind="min_soak", min_soak=spec.min_soak, since_phase=phase.previous))
    if spec.sql is not None:
        gates.append(GateCheck(kind="sql", sql=spec.sql))
    return gates


def plan_phase(
    migration: Migration, phase: Phase, *, rollback: bool = False, server_version: int = 18
) -> PhasePlan:
    """The ordered steps of running (or undoing) ``phase`` of ``migration``."""
    if rollback:
        return _plan_rollback(migration, phase, server_version)
    steps: list[Step] = []
    notes: list[str] = []
    if phase is Phase.BACKFILL:
        steps.extend(
            BackfillStep(index=i, spec=spec) for i, spec in enumerate(migration.manifest.backfill)
        )
    steps.extend(operation_steps(migration, phase, rollback=False, server_version=server_version))
    steps.extend(file_steps(migration, phase, rollback=False, server_version=server_version))
    if not steps:
        notes.append(f"{phase.value} has no steps: only the recorded state changes")
    if phase is Phase.CONTRACT:
        notes.append("contract is irreversible: after it there is no rollback")
    return PhasePlan(
        migration_id=migration.id,
        phase=phase,
        direction=Direction.FORWARD,
        gates=gate_checks(migration, phase),
        steps=steps,
        notes=notes,
        irreversible=phase is Phase.CONTRACT,
    )


def _plan_rollback(migration: Migration, phase: Phase, server_version: int) -> PhasePlan:
    if not phase.reversible:
        raise StateError(
            f"{migration.id} is contracted: contract is the point of no return",
            hint="write a new migration to bring the old shape back",
        )
    notes: list[str] = []
    steps: list[Step] = []
    if phase is Phase.BACKFILL:
        if migration.manifest.backfill or operations_backfill(migration):
            steps.append(ResetBackfillStep())
        notes.append("rows the backfill already filled keep their values; only the state resets")
    else:
        _refuse_missing_reverse(migration, phase, server_version)
        steps.extend(
            operation_steps(migration, phase, rollback=True, server_version=server_version)
        )
        steps.extend(file_steps(migration, phase, rollback=True, server_version=server_version))
        if not steps:
            notes.append(f"{phase.value} ran no SQL: only the recorded state changes")
    return PhasePlan(
        migration_id=migration.id,
        phase=phase,
        direction=Direction.ROLLBACK,
        steps=steps,
        notes=notes,
    )


def _refuse_missing_reverse(migration: Migration, phase: Phase, server_version: int) -> None:
    """Raw SQL that ran forward needs its reverse written out; never guess one.

    Declarative operations plan their own reverse (an empty one means there is
    nothing to undo, e.g. a VALIDATE CONSTRAINT); raw SQL, in phase files or
    ``op = "sql"`` operations, must come with its ``.down``.
    """
    forward = file_steps(migration, phase, rollback=False, server_version=server_version)
    reverse = file_steps(migration, phase, rollback=True, server_version=server_version)
    missing = f"{phase.value}.down.sql" if forward and not reverse else None
    attr = phase.value.replace("-", "_")
    for position, op in enumerate(migration.manifest.operations):
        raw = isinstance(op, SqlOperation) and _has_sql(getattr(op, attr, None))
        if raw and not _has_sql(getattr(op, f"{attr}_down", None)):
            missing = missing or f'"{phase.value}.down" to operation {position + 1}'
    if missing:
        raise StateError(
            f"no reverse steps for {phase.value} of {migration.id}: add {missing}",
            path=Path(migration.path),
            hint="expandctl never guesses how to undo SQL",
        )


def _has_sql(text: object) -> bool:
    return isinstance(text, str) and any(
        without_comments(statement.text) for statement in split_statements(text)
    )
