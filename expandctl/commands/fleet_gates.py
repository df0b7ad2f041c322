"""Fleet gates: what must hold on every included target before a phase runs on any.

Contract drops the old shape, so old code must be gone everywhere first:
no target contracts until every included target has finished switch-writes
(and soaked for the contract's ``min_soak``). Symmetrically, switch-writes is
rolled back nowhere while an included target has contracted: that rollback
invites old code back, which the contracted target can no longer serve.

The gate reads each target's own state; each target's lock and state stay the
truth, so a target's own ``advance`` still checks its gates itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from expandctl.commands.status import MigrationStatus, StatusReport
from expandctl.engine.gates import human
from expandctl.model.durations import format_duration
from expandctl.model.migration import Migration
from expandctl.model.phases import Phase, State
from expandctl.model.planning import gate_checks
from expandctl.model.steps import Direction


class Read(Protocol):
    @property
    def report(self) -> StatusReport | None: ...
    @property
    def error(self) -> str | None: ...


def migration_row(report: StatusReport, migration_id: str) -> MigrationStatus | None:
    return next((m for m in report.migrations if m.id == migration_id), None)


def contract_blockers(
    migration: Migration, reads: Mapping[str, Read], now: datetime | None = None
) -> list[str]:
    """Why contract of ``migration`` may not start on any target yet (empty: it may)."""
    now = now or datetime.now(UTC)
    soak = next((g.min_soak for g in gate_checks(migration, Phase.CONTRACT) if g.min_soak), None)
    unknown = [f"{n} is unreachable ({r.error})" for n, r in reads.items() if r.report is None]
    problems: list[str] = []
    for name, read in reads.items():
        if read.report is None:
            continue
        row = migration_row(read.report, migration.id)
        if row is None:
            problems.append(f"{name} does not know {migration.id}")
            continue
        progress = row.in_progress
        if progress is not None:
            if progress.phase is Phase.CONTRACT and progress.direction is Direction.FORWARD:
                continue  # contract already started there: resuming it is fine
            problems.append(
                f"{name} is in the middle of {progress.direction.value} {progress.phase.value}"
            )
            continue
        if row.state is State.CONTRACT:
            continue
        if not row.state.at_least(Phase.SWITCH_WRITES):
            problems.append(f"{name} is at {row.state.value}, not past switch-writes")
            continue
        if soak is not None:
            done = next((t for t in row.phases if t.phase is Phase.SWITCH_WRITES), None)
            soaked = now - done.finished_at if done else None
            if soaked is None or soaked < soak:
                ago = f"{human(soaked)} ago" if soaked is not None else "at an unknown time"
                problems.append(
                    f"{name} finished switch-writes {ago}; contract needs "
                    f"min_soak {format_duration(soak)}"
                )
    return unknown + problems  # a target nobody can read is the first thing to fix


def switch_writes_rollback_blockers(migration_id: str, reads: Mapping[str, Read]) -> list[str]:
    """Targets that have contracted: while any has, switch-writes is undone nowhere."""
    problems: list[str] = []
    for name, read in reads.items():
        row = migration_row(read.report, migration_id) if read.report else None
        if row is not None and (
            row.state is State.CONTRACT
            or (row.in_progress is not None and row.in_progress.phase is Phase.CONTRACT)
        ):
            problems.append(f"{name} has contracted")
    return problems
