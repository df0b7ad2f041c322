"""``expandctl fleet advance|rollback``: drive one migration across a fleet, wave by wave.

Each target runs the single-database ``advance``/``rollback`` under its own
advisory lock; the fleet layer only picks the goal, checks the fleet gates,
and runs the waves with bounded parallelism. A rerun reads every target's
state again, so it resumes where the last run stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from expandctl.commands.advance import AdvanceReport, advance, load_set, require_migration
from expandctl.commands.fleet_gates import (
    contract_blockers,
    migration_row,
    switch_writes_rollback_blockers,
)
from expandctl.commands.fleet_targets import (
    TargetRead,
    environment,
    excluded_names,
    failure_text,
    fleet_lock,
    read_targets,
    run_bounded,
    target_config,
)
from expandctl.commands.rollback import rollback
from expandctl.commands.status import status
from expandctl.errors import StateError
from expandctl.model.config import ResolvedConfig
from expandctl.model.fleet import Fleet, Wave
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES, Phase, State

Outcome = Literal["moved", "already", "failed", "not-started"]
MAX_ROLLBACK_STEPS = len(PHASES)
REACHED = "another expandctl run got there first"


class TargetOutcome(BaseModel):
    target: str
    wave: str
    outcome: Outcome = Field(
        description="moved: phases ran here; already: nothing to do; failed: see error; "
        "not-started: the run stopped before reaching it"
    )
    before: State | None = Field(description="state when the run began (None: not read)")
    after: State | None = Field(description="state when it finished with this target")
    phases: list[Phase] = Field(description="phases this run completed here, in order")
    error: str | None = None
    note: str | None = None
    duration_ms: int = 0


class WaveReport(BaseModel):
    name: str
    parallelism: int
    on_failure: str
    targets: list[TargetOutcome]

    @property
    def failed(self) -> list[str]:
        return [t.target for t in self.targets if t.outcome == "failed"]


class FleetRunReport(BaseModel):
    command: Literal["advance", "rollback"]
    fleet: str
    migration_id: str | None
    goal: State | None = Field(description="the state every included target is moved to")
    excluded: list[str]
    waves: list[WaveReport] = Field(default_factory=list)
    stopped_at: str | None = Field(
        default=None, description="the wave whose failure stopped the run"
    )
    moved: list[str] = Field(default_factory=list, description="targets where phases ran")
    failed: list[str] = Field(default_factory=list)
    not_started: list[str] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """Every included target reached the goal."""
        return not self.failed and not self.not_started


OnOutcome = Callable[[TargetOutcome], None]
Mover = Callable[[ResolvedConfig], list[Phase]]


def fleet_advance(
    fleet: Fleet,
    base: ResolvedConfig,
    migration_id: str | None = None,
    *,
    to: Phase | None = None,
    yes: bool = False,
    exclude: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    on_outcome: OnOutcome | None = None,
    before_wave: Callable[[Wave], None] | None = None,
) -> FleetRunReport:
    """Move one migration to ``to`` (default: one phase past the least advanced target).

    ``on_outcome`` hears of each target as it finishes (from worker threads,
    one at a time); ``before_wave`` is called before each wave starts.
    """
    env = environment(environ)
    migrations = load_set(base)
    excluded = excluded_names(fleet, exclude)
    included = [n for n in fleet.names if n not in excluded]
    reads = read_targets(fleet, base, included, env, _read_parallelism(fleet))
    migration = _choose(migrations, migration_id, reads)
    report = FleetRunReport(
        command="advance",
        fleet=fleet.path,
        migration_id=migration.id if migration else None,
        goal=None,
        excluded=excluded,
    )
    if migration is None:
        report.messages.append("nothing to advance: every migration is complete on every target")
        return report
    goal = to or _next_phase(migration.id, reads)
    if goal is None:
        report.messages.append(f"{migration.id} is complete on every reachable target")
        return report
    report.goal = State(goal.value)
    if goal is Phase.CONTRACT:
        _contract_gate(migration, reads)
        if not yes:
            raise StateError(
                f"contract of {migration.id} on {len(included)} targets needs confirmation: "
                "it cannot be undone",
                hint="pass --yes",
            )

    def move(config: ResolvedConfig) -> list[Phase]:
        done: AdvanceReport = advance(config, migration.id, to=goal, yes=yes)
        return [Phase(r.phase) for r in done.runs]

    WaveRun(fleet, base, env, reads, report, move, on_outcome, before_wave).run()
    return report


def fleet_rollback(
    fleet: Fleet,
    base: ResolvedConfig,
    migration_id: str,
    *,
    yes: bool = False,
    exclude: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    on_outcome: OnOutcome | None = None,
    before_wave: Callable[[Wave], None] | None = None,
) -> FleetRunReport:
    """Undo one phase: every target at the most advanced state goes one phase back."""
    env = environment(environ)
    migration = require_migration(load_set(base), migration_id)
    excluded = excluded_names(fleet, exclude)
    included = [n for n in fleet.names if n not in excluded]
    reads = read_targets(fleet, base, included, env, _read_parallelism(fleet))
    report = FleetRunReport(
        command="rollback",
        fleet=fleet.path,
        migration_id=migration.id,
        goal=None,
        excluded=excluded,
    )
    highest = _highest(migration.id, reads)
    if highest is None or highest is State.PENDING:
        report.messages.append(f"{migration.id} has nothing to roll back on any reachable target")
        return report
    blockers = switch_writes_rollback_blockers(migration.id, reads)
    if blockers:
        raise StateError(
            f"fleet rollback of {migration.id} refused: {_listed(blockers)}; contract cannot be "
            "undone, and undoing switch-writes elsewhere would let old code back",
            hint="exclude the contracted targets with --exclude NAME if you really mean it",
        )
    done = highest.phase
    assert done is not None
    goal = State.after(done.previous)
    report.goal = goal
    if not yes:
        raise StateError(
            f"rolling back {done.value} of {migration.id} on the fleet needs confirmation",
            hint=f"'expandctl plan {migration.id} --rollback' shows the steps; then pass --yes",
        )

    def move(config: ResolvedConfig) -> list[Phase]:
        # Read again just before, under the fleet lock: a target another fleet run
        # already took to the goal (or below) is left alone.
        with fleet_lock(config):
            row = migration_row(status(config), migration.id)
            current = row.state if row else State.PENDING
            undone: list[Phase] = []
            while rank(current) > rank(goal) and len(undone) < MAX_ROLLBACK_STEPS:
                runs = rollback(config, migration.id, yes=True).runs
                if not runs:
                    break
                undone.append(Phase(runs[-1].phase))
                current = State.after(undone[-1].previous)
            return undone

    WaveRun(fleet, base, env, reads, report, move, on_outcome, before_wave).run()
    return report


@dataclass
class WaveRun:
    """One fleet run's waves: who runs, in what order, and what became of each target."""

    fleet: Fleet
    base: ResolvedConfig
    environ: Mapping[str, str]
    reads: dict[str, TargetRead]
    report: FleetRunReport
    move: Mover
    on_outcome: OnOutcome | None = None
    before_wave: Callable[[Wave], None] | None = None
    _announce: threading.Lock = field(default_factory=threading.Lock)

    @property
    def migration_id(self) -> str:
        assert self.report.migration_id is not None
        return self.report.migration_id

    def run(self) -> None:
        report = self.report
        stop = threading.Event()  # shared: with on_failure = "stop" a failure ends the run
        for wave in self.fleet.waves:
            members = [n for n in wave.targets if n not in report.excluded]
            if report.stopped_at is not None:
                report.waves.append(_wave_report(wave, [self._skipped(n, wave) for n in members]))
                continue
            if self.before_wave is not None:
                self.before_wave(wave)
            # "continue": a failure stops nothing, not even the rest of its own wave
            wave_stop = threading.Event() if wave.on_failure == "continue" else stop
            outcomes = run_bounded(
                members,
                partial(self._run_one, wave=wave, stop=wave_stop),
                wave.parallelism,
                stop=stop if wave.on_failure == "stop" else None,
                skipped=partial(self._skipped, wave=wave),
            )
            report.waves.append(_wave_report(wave, outcomes))
            if any(o.outcome == "failed" for o in outcomes) and wave.on_failure == "stop":
                report.stopped_at = wave.name
        for wave_report in report.waves:
            for t in wave_report.targets:
                lists = {"moved": report.moved, "failed": report.failed}
                lists["not-started"] = report.not_started
                lists.get(t.outcome, []).append(t.target)

    def _run_one(self, name: str, *, wave: Wave, stop: threading.Event) -> TargetOutcome:
        target = self.fleet.target(name)
        assert target is not None
        started = time.monotonic()
        config: ResolvedConfig | None = None
        before = self._before(name)
        try:
            config = target_config(self.base, target, self.environ)
            phases = self.move(config)
        except Exception as exc:  # one target's failure is its row, not the fleet's crash
            result = _outcome(name, wave, "failed", before, [], failure_text(exc, config))
            self._read_after_failure(result)
            if isinstance(exc, StateError) and result.note == REACHED:
                result.outcome, result.error = "already", None
            else:
                result.note = None
                stop.set()
        else:
            result = _outcome(name, wave, "moved" if phases else "already", before, phases)
            if phases:
                last = phases[-1]
                rolled_back = self.report.command == "rollback"
                result.after = State.after(last.previous) if rolled_back else State(last.value)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        if self.on_outcome is not None:
            with self._announce:
                self.on_outcome(result)
        return result

    def _skipped(self, name: str, wave: Wave) -> TargetOutcome:
        return _outcome(name, wave, "not-started", self._before(name), [])

    def _before(self, name: str) -> State | None:
        read = self.reads.get(name)
        row = migration_row(read.report, self.migration_id) if read and read.report else None
        return row.state if row else None

    def _read_after_failure(self, result: TargetOutcome) -> None:
        """Say where a failed target stands now: phases may have run before the failure,
        or another run (holding its lock) may have got it to the goal."""
        again = read_targets(self.fleet, self.base, [result.target], self.environ, 1)
        read = again[result.target]
        row = migration_row(read.report, self.migration_id) if read.report else None
        if row is None:
            return
        result.after = row.state
        rolled_back = self.report.command == "rollback"
        if result.before is not None:
            result.phases = _phases_between(result.before, row.state, rolled_back=rolled_back)
        assert self.report.goal is not None
        if _reached(read, self.migration_id, self.report.goal, rollback_run=rolled_back):
            result.note = REACHED


def _outcome(
    name: str,
    wave: Wave,
    outcome: Outcome,
    before: State | None,
    phases: list[Phase],
    error: str | None = None,
) -> TargetOutcome:
    return TargetOutcome(
        target=name,
        wave=wave.name,
        outcome=outcome,
        before=before,
        after=before if outcome != "failed" else None,
        phases=phases,
        error=error,
    )


def _wave_report(wave: Wave, outcomes: list[TargetOutcome]) -> WaveReport:
    return WaveReport(
        name=wave.name,
        parallelism=wave.parallelism,
        on_failure=wave.on_failure,
        targets=outcomes,
    )


def _choose(
    migrations: MigrationSet, migration_id: str | None, reads: dict[str, TargetRead]
) -> Migration | None:
    """The named migration, or the first one some reachable target has not completed."""
    if migration_id:
        return require_migration(migrations, migration_id)
    for migration in migrations.migrations:
        for read in reads.values():
            row = migration_row(read.report, migration.id) if read.report else None
            if row is not None and not row.state.complete:
                return migration
    return None


def _states(migration_id: str, reads: dict[str, TargetRead]) -> list[State]:
    rows = [migration_row(r.report, migration_id) for r in reads.values() if r.report]
    return [row.state for row in rows if row is not None]


def _next_phase(migration_id: str, reads: dict[str, TargetRead]) -> Phase | None:
    """One phase past the least advanced reachable target: reruns converge, never spread."""
    states = _states(migration_id, reads)
    if not states:
        return PHASES[0]
    return min(states, key=rank).next_phase


def _highest(migration_id: str, reads: dict[str, TargetRead]) -> State | None:
    states = _states(migration_id, reads)
    return max(states, key=rank) if states else None


def _contract_gate(migration: Migration, reads: dict[str, TargetRead]) -> None:
    blockers = contract_blockers(migration, reads)
    if blockers:
        raise StateError(
            f"contract of {migration.id} runs on no target until every target has finished "
            f"switch-writes: {_listed(blockers)}; nothing was done",
            hint="advance those first, or leave one out with --exclude NAME",
        )


def _phases_between(before: State, after: State, *, rolled_back: bool) -> list[Phase]:
    """The phases completed (or undone) going from ``before`` to ``after``."""
    low, high = sorted((rank(before), rank(after)))
    phases = [p for p in PHASES if low < rank(State(p.value)) <= high]
    return list(reversed(phases)) if rolled_back else phases


def rank(state: State) -> int:
    return list(State).index(state)


def _reached(read: TargetRead, migration_id: str, goal: State, *, rollback_run: bool) -> bool:
    """The target sits at the goal with nothing in progress (another run may have moved it)."""
    row = migration_row(read.report, migration_id) if read.report else None
    if row is None or row.in_progress is not None:
        return False
    return rank(row.state) <= rank(goal) if rollback_run else rank(row.state) >= rank(goal)


def _listed(items: list[str], shown: int = 3) -> str:
    more = f" (and {len(items) - shown} more)" if len(items) > shown else ""
    return "; ".join(items[:shown]) + more


def _read_parallelism(fleet: Fleet) -> int:
    return max([8, *(w.parallelism for w in fleet.waves)])
