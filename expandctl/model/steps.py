"""What a phase will do, as data: the steps ``plan`` prints and ``advance`` runs.

Planning and running are separate: the planner turns a migration's files and
manifest into a PhasePlan; the engine executes exactly that object, so what
``plan`` shows is what ``advance`` runs.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from expandctl.model.backfill import BackfillSpec
from expandctl.model.durations import Duration, format_duration
from expandctl.model.phases import Phase


class Direction(StrEnum):
    FORWARD = "forward"
    ROLLBACK = "rollback"


class AcceptedHazard(BaseModel):
    """A lint finding an operation knows its own statement raises, and why that is safe.

    Set only by the operations that generate the statement (never read from
    SQL text), so a phase file cannot use it: hand-written SQL suppresses
    with an ``-- expandctl-ignore:`` comment, which the linter checks for use.
    """

    model_config = ConfigDict(frozen=True)

    rule_id: str = Field(pattern=r"^[A-Z][0-9]{3}$")  # e.g. "C205"
    reason: str = Field(min_length=1)


class SqlStep(BaseModel):
    """One SQL statement from a phase file (or an operation)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["sql"] = "sql"
    sql: str
    source: str  # file name (``expand.sql``) or ``operation N``
    line: int | None = None
    autocommit: bool = False  # cannot run inside a transaction block
    # CREATE/DROP INDEX CONCURRENTLY: the index name, so a re-run can tidy up first.
    concurrent_index: str | None = None
    concurrent_action: Literal["create", "drop"] | None = None
    # Findings the linter counts as suppressed: only operations set these.
    accepted: tuple[AcceptedHazard, ...] = ()

    @property
    def summary(self) -> str:
        return " ".join(self.sql.split())


class CheckStep(BaseModel):
    """A precondition on the live catalog: a read-only SELECT of one boolean.

    ``plan`` evaluates every check of a phase read-only and shows all that do
    not hold; ``advance`` evaluates them all before the phase starts, and again
    inside the transaction group, where false (or NULL) refuses the phase with
    ``message`` and ``hint`` and nothing of the group is applied.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["check"] = "check"
    sql: str  # a SELECT of one boolean; it only reads
    message: str  # what is wrong when it returns false
    hint: str | None = None
    source: str  # ``operation N``
    autocommit: Literal[False] = False  # runs inside its group's transaction

    @property
    def summary(self) -> str:
        return " ".join(f"check: {self.sql} -- else refuse: {self.message}".split())


class BackfillStep(BaseModel):
    """Fill one ``[backfill]`` table in resumable batches (run by engine.backfill)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["backfill"] = "backfill"
    index: int  # position among the manifest's [[backfill]] entries
    spec: BackfillSpec
    autocommit: bool = True  # batches commit on their own

    @property
    def summary(self) -> str:
        cols = ", ".join(self.spec.set)
        return f"backfill {self.spec.table} ({cols}) WHERE {self.spec.where}"


class ResetBackfillStep(BaseModel):
    """Rolling back backfill: forget its checkpoints. The data it wrote stays."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["reset-backfill"] = "reset-backfill"
    autocommit: bool = False

    @property
    def summary(self) -> str:
        return "forget backfill checkpoints (rows already filled keep their values)"


AnyStep = SqlStep | CheckStep | BackfillStep | ResetBackfillStep
Step = Annotated[AnyStep, Field(discriminator="kind")]


def step_checksum(step: AnyStep) -> str:
    """What a step does, hashed: an interrupted phase may be resumed with edited
    files only while the steps already recorded done hash the same.

    The line number is left out, so adding a comment above a statement is no
    edit; so are accepted hazards, which tell the linter, not PostgreSQL,
    something (and steps recorded before they existed hash as they did).
    """
    data = step.model_dump_json(exclude={"line", "accepted"} if isinstance(step, SqlStep) else None)
    return hashlib.sha256(data.encode()).hexdigest()


class GateCheck(BaseModel):
    """A condition from ``[gates.<phase>]`` checked before the phase starts."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["min_soak", "sql", "alembic_revision", "django_migration"]
    min_soak: Duration | None = None
    since_phase: Phase | None = None  # min_soak counts from this phase's finish
    sql: str | None = None
    target: str | None = None  # the Alembic revision / Django APP.NAME that must be applied
    alembic_config: str | None = None  # where the Alembic revision files are found

    @property
    def summary(self) -> str:
        if self.kind == "min_soak":
            since = self.since_phase.value if self.since_phase else "the previous phase"
            soak = self.min_soak or timedelta(0)
            return f"min_soak {format_duration(soak)} since {since} finished"
        if self.kind == "alembic_revision":
            return f"alembic revision {self.target} applied"
        if self.kind == "django_migration":
            return f"django migration {self.target} applied"
        return f"sql returns true: {' '.join((self.sql or '').split())}"


class PhasePlan(BaseModel):
    """Everything one ``advance`` (or ``rollback``) of one migration will do, in order."""

    model_config = ConfigDict(frozen=True)

    migration_id: str
    phase: Phase
    direction: Direction
    gates: list[GateCheck] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    irreversible: bool = False  # contract: there is no way back

    @property
    def verb(self) -> str:
        return "roll back" if self.direction is Direction.ROLLBACK else "run"
