"""The explicit registry of declarative operations, and planning them in order.

Adding an operation is one new module in this package, its tests and one
entry in OPERATION_CLASSES; the manifest's ``Operation`` union
(expandctl.model.operations) is built from this tuple.
"""

from __future__ import annotations

from collections.abc import Sequence

from expandctl.model.ops.add_check import AddCheck
from expandctl.model.ops.add_column import AddColumn
from expandctl.model.ops.add_foreign_key import AddForeignKey
from expandctl.model.ops.add_unique import AddUnique
from expandctl.model.ops.backfill_workers import with_workers
from expandctl.model.ops.base import OperationBase, PlanContext
from expandctl.model.ops.change_column_type import ChangeColumnType
from expandctl.model.ops.create_index import CreateIndex
from expandctl.model.ops.create_table import CreateTable
from expandctl.model.ops.drop_column import DropColumn
from expandctl.model.ops.drop_index import DropIndex
from expandctl.model.ops.drop_not_null import DropNotNull
from expandctl.model.ops.drop_table import DropTable
from expandctl.model.ops.rename_column import RenameColumn
from expandctl.model.ops.rename_table import RenameTable
from expandctl.model.ops.replace_column import ReplaceColumn
from expandctl.model.ops.retype_column import RetypeColumn
from expandctl.model.ops.set_not_null import SetNotNull
from expandctl.model.ops.sql_op import SqlOperation
from expandctl.model.phases import Phase
from expandctl.model.retires import RetiredObject
from expandctl.model.sql_split import find_comments
from expandctl.model.steps import Step

# The explicit registry: one line per operation.
OPERATION_CLASSES: tuple[type[OperationBase], ...] = (
    CreateTable,
    AddColumn,
    RenameColumn,
    ChangeColumnType,
    RetypeColumn,
    ReplaceColumn,
    SetNotNull,
    DropNotNull,
    AddCheck,
    AddForeignKey,
    AddUnique,
    CreateIndex,
    DropIndex,
    DropColumn,
    DropTable,
    RenameTable,
    SqlOperation,
)

OPERATION_NAMES: tuple[str, ...] = tuple(
    str(cls.model_fields["op"].annotation.__args__[0])  # type: ignore[union-attr]
    for cls in OPERATION_CLASSES
)


def plan_operation(op: OperationBase, phase: Phase, rollback: bool, ctx: PlanContext) -> list[Step]:
    """The steps of running (``rollback=False``) or undoing one phase of one operation."""
    return with_workers(op, op.reverse(phase, ctx) if rollback else op.forward(phase, ctx))


def plan_operations(
    operations: Sequence[OperationBase],
    phase: Phase,
    *,
    rollback: bool,
    migration_id: str,
    first_backfill_index: int = 0,
    server_version: int = 18,
) -> list[Step]:
    """Every operation's steps for a phase; undoing runs the operations in reverse order.

    Backfill indexes continue after the manifest's own ``[[backfill]]`` entries
    (``first_backfill_index``), one block per operation, so checkpoints never collide.
    """
    contexts: list[PlanContext] = []
    index = first_backfill_index
    for position, op in enumerate(operations):
        contexts.append(
            PlanContext(
                migration_id=migration_id,
                position=position,
                backfill_index=index,
                server_version=server_version,
            )
        )
        index += op.backfill_count()
    pairs = list(zip(operations, contexts, strict=True))
    steps: list[Step] = []
    for op, ctx in reversed(pairs) if rollback else pairs:
        steps.extend(plan_operation(op, phase, rollback, ctx))
    return steps


def plan_retires(operations: Sequence[OperationBase], *, migration_id: str) -> list[RetiredObject]:
    """Everything the operations remove in contract (added to the manifest's ``retires``)."""
    found: list[RetiredObject] = []
    for position, op in enumerate(operations):
        ctx = PlanContext(migration_id=migration_id, position=position)
        found.extend(r for r in op.retires(ctx) if r not in found)
    return found


def render_steps(steps: Sequence[Step]) -> tuple[str, list[int]]:
    """The steps as one script for display, and where each step starts in it.

    SQL steps end in ``;``; other steps (backfills, resets) become comments.
    Display only: whether a step runs alone is read from the step
    (``autocommit``), never from this text.
    """
    text = ""
    starts: list[int] = []
    for step in steps:
        text += "\n\n" if starts else ""
        starts.append(len(text))
        if step.kind == "sql":
            text += _terminated(step.sql)
        else:  # every line a comment, so no part of a summary reads as SQL
            text += "\n".join(f"-- {line}" for line in step.summary.splitlines() or [""])
    return text + ("\n" if starts else ""), starts


def _terminated(sql: str) -> str:
    """The statement ending in ``;``: on a line of its own after a trailing ``--`` comment."""
    body = sql.rstrip().rstrip(";").rstrip()
    if "--" in body.rsplit("\n", 1)[-1]:
        comments = find_comments(body)
        if comments and comments[-1].text.startswith("--") and body.endswith(comments[-1].text):
            return body + "\n;"
    return body + ";"
