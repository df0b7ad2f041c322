"""Turn a migration's files and manifest into the PhasePlan ``advance`` runs.

Pure: no database. Steps come from two sources, concatenated in this order:
the declarative operations (each plans its own steps for a phase; the
registry in expandctl.model.ops orders them) and then the phase's SQL file.
The engine never decides what to run; it runs what this module returns.

Imports point one way: planning > migration > manifest > operations >
ops (the operations) > sql_steps > steps. No operation imports the planner.
"""

from __future__ import annotations

from pathlib import Path

from expandctl.errors import StateError
from expandctl.model.migration import Migration
from expandctl.model.ops.base import OperationBase
from expandctl.model.ops.registry import plan_operations
from expandctl.model.ops.sql_op import SqlOperation
from expandctl.model.phases import Phase
from expandctl.model.sql_split import split_statements
from expandctl.model.sql_steps import needs_autocommit, sql_steps, without_comments
from expandctl.model.steps import (
    BackfillStep,
    Direction,
    GateCheck,
    PhasePlan,
    ResetBackfillStep,
    SqlStep,
    Step,
)

# Still importable from here; new code imports them from model.sql_steps.
__all__ = [
    "file_steps",
    "gate_checks",
    "needs_autocommit",
    "operation_steps",
    "operations_backfill",
    "plan_phase",
    "sql_steps",
    "without_comments",
]


# --- operations: each produces steps for a phase; the planner concatenates them ---


def operation_steps(
    migration: Migration, phase: Phase, *, rollback: bool, server_version: int
) -> list[Step]:
    """The declarative operations' steps for ``phase`` (in reverse order when undoing).

    Each operation plans itself (expandctl.model.ops: ``forward``/``reverse``
    return steps); their backfills are numbered after the manifest's own
    ``[[backfill]]`` entries.
    """
    return plan_operations(
        _operations(migration),
        phase,
        rollback=rollback,
        migration_id=migration.id,
        first_backfill_index=len(migration.manifest.backfill),
        server_version=server_version,
    )


def operations_backfill(migration: Migration) -> bool:
    """True when an operation fills rows (rolling back backfill then resets checkpoints)."""
    return any(op.backfill_count() for op in _operations(migration))


def _operations(migration: Migration) -> list[OperationBase]:
    return [op for op in migration.manifest.operations if isinstance(op, OperationBase)]


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
    if spec.alembic_revision is not None:
        gates.append(
            GateCheck(
                kind="alembic_revision",
                target=spec.alembic_revision,
                alembic_config=spec.alembic_config,
            )
        )
    if spec.django_migration is not None:
        gates.append(GateCheck(kind="django_migration", target=spec.django_migration))
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
    if missing and migration.rollback_sql(phase) is not None:
        # The file is there but holds no statement: say so, not "add" it.
        missing = (
            f"statements to {phase.value}.down.sql that undo {phase.value}.sql "
            "(it exists but has no SQL statement, only blanks or comments)"
        )
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
