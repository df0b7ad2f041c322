"""What ``advance`` or ``rollback`` would do next for a migration, and why it may not.

The building blocks of ``commands.phase.derive_phase``, the one derivation
that ``advance``, ``rollback``, ``plan``, ``status`` and ``backfill`` share:
the decision (or refusal), drift, and the resume rule.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES, Phase, State
from expandctl.model.state import InProgress, MigrationRecord
from expandctl.model.steps import Direction, PhasePlan, SqlStep, step_checksum


@dataclass(frozen=True)
class Drift:
    phase: Phase
    recorded: str
    current: str
    files: tuple[str, ...]  # the files that changed (every file of the phase for 0.1 records)


@dataclass
class Decision:
    migration_id: str
    direction: Direction
    phase: Phase | None  # None: nothing to do
    resume_from: int | None = None  # step index an interrupted run stopped at
    fresh_start: bool = False  # an interrupted run that did nothing: start again
    refusals: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    nothing_to_do: str | None = None


def drift(migration: Migration, record: MigrationRecord) -> list[Drift]:
    """Completed (and in-progress) phases whose files changed since they ran."""
    found = [
        _drift(migration, phase, done.checksum, done.file_checksums)
        for phase, done in sorted(record.phases.items(), key=lambda kv: PHASES.index(kv[0]))
        if not migration.checksum_matches(phase, done.checksum)
    ]
    progress = record.in_progress
    if (
        progress
        and not progress.step_checksums  # newer rows: resume_problem() checks step by step
        and not migration.checksum_matches(progress.phase, progress.checksum)
        and progress.direction is Direction.FORWARD
        and progress.phase not in record.phases
    ):
        found.append(_drift(migration, progress.phase, progress.checksum, progress.file_checksums))
    return found


def _drift(migration: Migration, phase: Phase, recorded: str, files: dict[str, str]) -> Drift:
    now = migration.file_checksums.get(phase, {})
    changed = sorted(name for name in {*files, *now} if files.get(name) != now.get(name))
    if not files:  # recorded by expandctl 0.1: no per-file checksums to compare
        changed = phase_files(migration, phase)
    return Drift(phase, recorded, migration.phase_checksums[phase], tuple(changed))


def phase_files(migration: Migration, phase: Phase) -> list[str]:
    """The files a phase's checksum covers, for people looking for what changed."""
    names = sorted(f.name for f in migration.sql_files.values() if f.phase is phase)
    return [*names, "migration.toml"]


def drift_refusal(migration: Migration, item: Drift) -> tuple[str, str]:
    """The refusal and hint for a phase whose files changed after it ran."""
    return (
        f"drift: the files of {item.phase.value} of {migration.id} changed since it ran: "
        f"{', '.join(item.files)} (in {migration.path}; recorded {item.recorded[:12]}, "
        f"now {item.current[:12]})",
        f"restore {', '.join(item.files)} as they were when the phase ran (git log -p -- "
        f"{migration.path}); put new changes in a new migration",
    )


def resume_problem(
    migration: Migration, progress: InProgress, plan: PhasePlan
) -> tuple[str, str] | None:
    """Why an interrupted phase cannot resume with the files as they are now (refusal, hint).

    Steps already recorded done must be unchanged; the steps after them may
    have been edited (fixing the statement that failed is the usual reason).
    """
    done = progress.next_step
    if not progress.step_checksums:  # written by an older expandctl: whole-phase rule
        if progress.total_steps != len(plan.steps):
            return (
                f"the interrupted {plan.phase.value} of {migration.id} had "
                f"{progress.total_steps} steps, the files now give {len(plan.steps)}",
                "restore the files as they were when the phase started",
            )
        return None
    now = [step_checksum(step) for step in plan.steps]
    for index in range(done):
        if index >= len(now) or now[index] != progress.step_checksums[index]:
            step = plan.steps[index] if index < len(now) else None
            where = ""
            if isinstance(step, SqlStep):
                where = f" ({step.source}:{step.line})" if step.line else f" ({step.source})"
            return (
                f"drift: step {index + 1}{where} of the interrupted {plan.phase.value} of "
                f"{migration.id} already ran, and the files now give a different step there "
                f"(steps 1-{done} ran; only later steps may be edited)",
                f"restore steps 1-{done} as they were in {migration.path}; "
                "edit only the steps that have not run yet",
            )
    return None


def resumed_progress(migration: Migration, progress: InProgress, plan: PhasePlan) -> InProgress:
    """The interrupted run's progress, updated to the phase's files as they are now."""
    return progress.model_copy(
        update={
            "checksum": migration.phase_checksums[plan.phase],
            "file_checksums": migration.file_checksums.get(plan.phase, {}),
            "total_steps": len(plan.steps),
            "step_checksums": tuple(step_checksum(step) for step in plan.steps),
        }
    )


def in_flight(record: MigrationRecord) -> bool:
    return record.in_progress is not None or record.state not in (State.PENDING, State.CONTRACT)


def default_migration(
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    *,
    skip: Collection[str] = (),
) -> Migration | None:
    """Interrupted first, then the oldest in flight, then the oldest pending; never one in
    ``skip`` (another run is running it right now)."""

    def record(m: Migration) -> MigrationRecord:
        return records.get(m.id) or MigrationRecord(id=m.id)

    candidates = [m for m in migrations.migrations if m.id not in skip]
    for test in (
        lambda r: r.in_progress is not None,
        in_flight,
        lambda r: r.state is State.PENDING,
    ):
        found = next((m for m in candidates if test(record(m))), None)
        if found:
            return found
    return None


def missing_records(
    migrations: MigrationSet, records: dict[str, MigrationRecord]
) -> list[MigrationRecord]:
    """Recorded migrations whose folder is not in the migrations directory, by id."""
    on_disk = set(migrations.ids)
    return [records[mid] for mid in sorted(records) if mid not in on_disk]


def renamed_from(
    migration: Migration, record: MigrationRecord, missing: list[MigrationRecord]
) -> MigrationRecord | None:
    """The missing migration this never-run one is a copy of (renamed or renumbered), if any.

    Every phase checksum the missing one recorded must match this one's files,
    and at least one of those phases must do something: two migrations whose
    phases are all empty are not the same migration.
    """
    if record.phases or record.in_progress:
        return None
    for old in missing:
        recorded = {phase: done.checksum for phase, done in old.phases.items()}
        if old.in_progress is not None:
            recorded.setdefault(old.in_progress.phase, old.in_progress.checksum)
        if (
            recorded
            and all(migration.checksum_matches(p, c) for p, c in recorded.items())
            and any(_does_something(migration, p) for p in recorded)
        ):
            return old
    return None


def _does_something(migration: Migration, phase: Phase) -> bool:
    manifest = migration.manifest
    return (
        any(f.phase is phase for f in migration.sql_files.values())
        or bool(manifest.operations)
        or (phase is Phase.BACKFILL and bool(manifest.backfill))
    )


def describe_record(record: MigrationRecord) -> str:
    """Where a recorded migration stands, in words: "expand", "mid-backfill (2/5 steps)"."""
    progress = record.in_progress
    if progress is None:
        return record.state.value
    verb = "rolling back " if progress.direction is Direction.ROLLBACK else ""
    return (
        f"{record.state.value}, {verb}mid-{progress.phase.value} "
        f"({progress.next_step}/{progress.total_steps} steps)"
    )


def renamed_refusal(migration: Migration, old: MigrationRecord) -> tuple[str, str]:
    """A never-run migration whose files are what a missing one already ran."""
    return (
        f"{migration.id} looks like {old.id} renamed: its files are what {old.id} ran "
        f"(recorded {describe_record(old)}), and {old.id}'s folder is MISSING; "
        f"advancing {migration.id} would run the same statements again",
        f"same migration: 'expandctl forget {old.id} --renamed-to {migration.id} --reason "
        f"\"...\"' moves its state; a new one meant to run again: 'expandctl forget {old.id} "
        f'--reason "..."\' first; or restore the folder of {old.id}',
    )


def missing_refusal(old: MigrationRecord, directory: str) -> tuple[str, str]:
    """An in-flight migration whose folder is gone: nothing may move on unnoticed."""
    return (
        f"{old.id} is recorded {describe_record(old)} but its folder is MISSING from "
        f"{directory}; it is in flight, so nothing advances until it is accounted for",
        f"restore its folder (git checkout -- {old.id}), or 'expandctl forget {old.id} "
        f"--renamed-to NEW_ID --reason \"...\"' if it was renamed, or 'expandctl forget "
        f'{old.id} --reason "..."\' if it was abandoned on purpose',
    )


def decide_advance(
    migration: Migration,
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    *,
    missing: list[MigrationRecord] | None = None,
) -> Decision:
    """``missing`` (``missing_records``, computed once by callers that loop) is found if None."""
    record = records.get(migration.id) or MigrationRecord(id=migration.id)
    progress = record.in_progress
    decision = Decision(migration.id, Direction.FORWARD, None)
    if missing is None:
        missing = missing_records(migrations, records)
    if progress and progress.direction is Direction.ROLLBACK:
        decision.refusals.append(
            f"{migration.id} is in the middle of rolling back {progress.phase.value} "
            f"(step {progress.next_step + 1} of {progress.total_steps})"
        )
        decision.hints.append(f"finish it first: expandctl rollback {migration.id}")
        return decision
    if progress:
        decision.phase = progress.phase
        changed = not migration.checksum_matches(progress.phase, progress.checksum)
        if progress.next_step == 0 and changed:
            decision.fresh_start = True  # nothing recorded done: start over with the new files
        else:
            decision.resume_from = progress.next_step
    else:
        decision.phase = record.state.next_phase
        if decision.phase is None:
            decision.nothing_to_do = f"{migration.id} is complete (contracted)"
            return decision
    _identity_refusals(decision, migration, record, migrations.directory, missing)
    for item in drift(migration, record):
        if decision.fresh_start and item.phase is decision.phase:
            continue
        refusal, hint = drift_refusal(migration, item)
        decision.refusals.append(refusal)
        decision.hints.append(hint)
    if decision.phase is Phase.EXPAND:
        for required in migration.manifest.requires:
            other = records.get(required) or MigrationRecord(id=required)
            if not other.state.at_least(Phase.EXPAND):
                gone = " and its folder is MISSING" if migrations.get(required) is None else ""
                decision.refusals.append(
                    f"{migration.id} requires {required}, which is {other.state.value}{gone}; "
                    "it must be at least expanded first"
                )
                decision.hints.append(f"expandctl advance {required}")
    return decision


def _identity_refusals(
    decision: Decision,
    migration: Migration,
    record: MigrationRecord,
    directory: str,
    missing: list[MigrationRecord],
) -> None:
    """A copy of a missing migration, or any in-flight one missing, refuses the advance."""
    old = renamed_from(migration, record, missing)
    if old is not None:
        refusal, hint = renamed_refusal(migration, old)
        decision.refusals.append(refusal)
        decision.hints.append(hint)
    for other in missing:
        if other is not old and in_flight(other):
            refusal, hint = missing_refusal(other, directory)
            decision.refusals.append(refusal)
            decision.hints.append(hint)


def decide_rollback(
    migration: Migration, migrations: MigrationSet, records: dict[str, MigrationRecord]
) -> Decision:
    record = records.get(migration.id) or MigrationRecord(id=migration.id)
    progress = record.in_progress
    decision = Decision(migration.id, Direction.ROLLBACK, None)
    if progress and progress.direction is Direction.FORWARD:
        decision.refusals.append(
            f"{migration.id} is in the middle of {progress.phase.value} "
            f"({progress.next_step} of {progress.total_steps} steps done)"
        )
        decision.hints.append(f"resume it with 'expandctl advance {migration.id}', then roll back")
        return decision
    if progress:
        decision.phase = progress.phase
        decision.resume_from = progress.next_step
        return decision
    decision.phase = record.state.phase
    if decision.phase is None:
        decision.nothing_to_do = f"{migration.id} is pending: there is nothing to roll back"
        return decision
    if decision.phase is Phase.CONTRACT:
        decision.refusals.append(
            f"{migration.id} is contracted: contract is the point of no return"
        )
        decision.hints.append("write a new migration to bring the old shape back")
        return decision
    if decision.phase is Phase.EXPAND:
        for other in migrations.migrations:
            other_record = records.get(other.id) or MigrationRecord(id=other.id)
            if migration.id in other.manifest.requires and (
                other_record.state is not State.PENDING or other_record.in_progress
            ):
                decision.refusals.append(
                    f"{other.id} requires {migration.id} and is {other_record.state.value}"
                )
                decision.hints.append(f"roll back {other.id} first")
    return decision


def states_differ(
    before: dict[str, MigrationRecord], after: dict[str, MigrationRecord], ids: list[str]
) -> list[str]:
    """Migrations whose state or progress changed between two reads."""

    def key(records: dict[str, MigrationRecord], mid: str) -> tuple[object, ...]:
        r = records.get(mid)
        if r is None:
            return (State.PENDING, None)
        p = r.in_progress
        return (r.state, (p.phase, p.direction, p.next_step) if p else None)

    return [mid for mid in ids if key(before, mid) != key(after, mid)]


__all__ = [
    "Decision",
    "Drift",
    "decide_advance",
    "decide_rollback",
    "default_migration",
    "describe_record",
    "drift",
    "drift_refusal",
    "in_flight",
    "missing_records",
    "missing_refusal",
    "phase_files",
    "renamed_from",
    "renamed_refusal",
    "resume_problem",
    "resumed_progress",
    "states_differ",
]
