"""``workers`` on operations that fill rows: their backfill's parallel workers.

Mixed into the operations whose backfill phase has a BackfillStep; the
registry hands the value to every backfill the operation plans, so the
operations themselves need not thread it through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from expandctl.model.backfill import check_workers
from expandctl.model.steps import BackfillStep, Step


class BackfillWorkers(BaseModel):
    workers: int | Literal["auto"] = Field(
        default=1, description="backfill workers on disjoint key ranges (or 'auto')"
    )

    @field_validator("workers")
    @classmethod
    def _sane_workers(cls, value: int | str) -> int | str:
        return check_workers(value)


def with_workers(op: object, steps: Sequence[Step]) -> list[Step]:
    """``steps`` with the operation's ``workers`` set on each of its backfills."""
    if not isinstance(op, BackfillWorkers) or op.workers == 1:
        return list(steps)
    return [
        step.model_copy(update={"spec": step.spec.model_copy(update={"workers": op.workers})})
        if isinstance(step, BackfillStep)
        else step
        for step in steps
    ]
