"""``expandctl fleet status``: every target by every migration, and where they disagree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, Field

from expandctl.commands.advance import load_set
from expandctl.commands.fleet_gates import contract_blockers
from expandctl.commands.fleet_targets import TargetRead, environment, excluded_names, read_targets
from expandctl.model.config import ResolvedConfig
from expandctl.model.fleet import Fleet
from expandctl.model.migration import MigrationSet
from expandctl.model.phases import State


class TargetStatus(BaseModel):
    name: str
    wave: str | None
    labels: list[str]
    excluded: bool = Field(description="left out of runs and of the contract gate")
    reachable: bool
    error: str | None = Field(description="why the target could not be read (never a password)")
    initialized: bool = Field(description="its state schema exists")
    lock_holder: str | None = Field(description="an expandctl changing its state right now")
    states: dict[str, State] = Field(description="migration id -> last completed phase")
    interrupted: list[str] = Field(description="migrations stopped mid-phase here")
    drifted: list[str] = Field(description="migrations whose files changed since they ran here")
    missing: list[str] = Field(description="migrations recorded here but missing from disk")


class MigrationSpread(BaseModel):
    id: str
    lowest: State | None = Field(description="least advanced reachable included target")
    highest: State | None
    by_state: dict[State, list[str]] = Field(description="state -> targets in it")
    contract_blocked_by: list[str] = Field(
        description="why contract may not run yet: targets behind, unreachable or soaking"
    )


class FleetStatusReport(BaseModel):
    fleet: str
    migrations: list[str]
    waves: dict[str, list[str]]
    targets: list[TargetStatus]
    spread: list[MigrationSpread]
    unreachable: list[str]
    excluded: list[str]
    interrupted: list[str] = Field(description="target:migration pairs stopped mid-phase")
    drifted: list[str] = Field(description="target:migration pairs with changed files")
    missing: list[str] = Field(description="target:migration pairs missing from disk")
    split: list[str] = Field(description="migrations whose targets sit in different phases")


def fleet_status(
    fleet: Fleet,
    base: ResolvedConfig,
    *,
    exclude: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    parallelism: int = 8,
) -> FleetStatusReport:
    migrations = load_set(base)
    excluded = excluded_names(fleet, exclude)
    reads = read_targets(fleet, base, fleet.names, environment(environ), parallelism)
    rows = [_row(fleet, reads[name], name in excluded) for name in fleet.names]
    included = {name: reads[name] for name in fleet.names if name not in excluded}
    spread = [_spread(m.id, migrations, included) for m in migrations.migrations]
    return FleetStatusReport(
        fleet=fleet.path,
        migrations=migrations.ids,
        waves={w.name: list(w.targets) for w in fleet.waves},
        targets=rows,
        spread=spread,
        unreachable=[r.name for r in rows if not r.reachable],
        excluded=excluded,
        interrupted=[f"{r.name}:{m}" for r in rows for m in r.interrupted],
        drifted=[f"{r.name}:{m}" for r in rows for m in r.drifted],
        missing=[f"{r.name}:{m}" for r in rows for m in r.missing],
        split=[s.id for s in spread if len(s.by_state) > 1],
    )


def _row(fleet: Fleet, read: TargetRead, excluded: bool) -> TargetStatus:
    target = fleet.target(read.name)
    assert target is not None
    report = read.report
    return TargetStatus(
        name=read.name,
        wave=fleet.wave_of(read.name),
        labels=list(target.labels),
        excluded=excluded,
        reachable=report is not None,
        error=read.error,
        initialized=bool(report and report.initialized),
        lock_holder=report.lock_holder if report else None,
        states={m.id: m.state for m in report.migrations if m.on_disk} if report else {},
        interrupted=list(report.interrupted) if report else [],
        drifted=list(report.drifted) if report else [],
        missing=[m.id for m in report.migrations if not m.on_disk] if report else [],
    )


def _spread(
    migration_id: str, migrations: MigrationSet, included: dict[str, TargetRead]
) -> MigrationSpread:
    by_state: dict[State, list[str]] = {}
    for name, read in included.items():
        if read.report is None:
            continue
        state = next(m.state for m in read.report.migrations if m.id == migration_id)
        by_state.setdefault(state, []).append(name)
    order = list(State)
    states = sorted(by_state, key=order.index)
    migration = migrations.get(migration_id)
    assert migration is not None
    return MigrationSpread(
        id=migration_id,
        lowest=states[0] if states else None,
        highest=states[-1] if states else None,
        by_state={s: by_state[s] for s in states},
        contract_blocked_by=contract_blockers(migration, included),
    )
