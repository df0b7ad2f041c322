"""In-flight interference: refuse a phase that removes what something else still needs.

Before a phase drops, renames or retypes an object (its ``Removal`` list,
from ``expandctl.lint.removals``), look for everything that still uses it:

- the other migrations that are pending or in flight: the SQL, backfill
  specs and gates of the phases they still have to run, and the code their
  applied steps left behind (sync functions, triggers, views, policies);
- the live catalog (``interference_catalog``): trigger functions, views,
  policies, generated columns, indexes and constraints, foreign keys from
  other tables, publications.

What the same plan removes at or before the removal's step does not count
(contract drops its sync trigger, then the column), nor what the same
migration created and this plan removes. Read-only: nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from expandctl.engine.decide import in_flight
from expandctl.engine.interference_catalog import catalog_needs
from expandctl.engine.interference_text import (
    code_object,
    created_names,
    dropped_names,
    identifiers,
    last_name,
    mentions,
    trigger_target,
)
from expandctl.errors import ExpandctlError
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES, Phase, State
from expandctl.model.planning import plan_phase
from expandctl.model.removals import Removal
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import BackfillStep, Direction, GateCheck, PhasePlan, SqlStep, Step


@dataclass(frozen=True)
class Interference:
    """One removal that would break something that still needs the object."""

    removal: Removal
    needed_by: str  # "migration 0003_x: sync function users_email_normalized_sync on users"
    where: str  # where the need was found: "expand.sql:2 (applied)", "live catalog"
    hint: str  # the safe order: "contract 0003_x first"
    migration_id: str | None = None  # the other migration, when one needs it

    @property
    def message(self) -> str:
        return (
            f"{self.removal.action} ({self.removal.where}) would break {self.needed_by} "
            f"[{self.where}]"
        )


@dataclass(frozen=True)
class OtherStep:
    """One step of another migration, with where it comes from."""

    phase: Phase
    index: int
    step: Step

    @property
    def where(self) -> str:
        if isinstance(self.step, SqlStep) and self.step.line is not None:
            return f"{self.phase.value}: {self.step.source}:{self.step.line}"
        source = self.step.source if isinstance(self.step, SqlStep) else self.step.kind
        return f"{self.phase.value}: {source} (step {self.index + 1})"


@dataclass(frozen=True)
class OtherMigration:
    """Another pending or in-flight migration: what it already ran and what it still will."""

    record: MigrationRecord
    applied: tuple[OtherStep, ...] = ()  # forward steps already run (their objects remain)
    to_run: tuple[OtherStep, ...] = ()  # forward steps of the phases it still has to run
    gates: tuple[tuple[Phase, GateCheck], ...] = ()  # gates of those phases

    @property
    def migration_id(self) -> str:
        return self.record.id

    @property
    def pending(self) -> bool:
        return self.record.state is State.PENDING and self.record.in_progress is None


def other_migrations(
    migrations: MigrationSet,
    records: Mapping[str, MigrationRecord],
    *,
    current: str,
    server_version: int,
    pending: bool = True,
) -> list[OtherMigration]:
    """Every migration other than ``current`` that is in flight (or pending too), planned."""
    out: list[OtherMigration] = []
    for migration in migrations.migrations:
        if migration.id == current:
            continue
        record = records.get(migration.id) or MigrationRecord(id=migration.id)
        if not (in_flight(record) or (pending and record.state is State.PENDING)):
            continue
        out.append(_other(migration, record, server_version))
    return out


def _other(migration: Migration, record: MigrationRecord, server_version: int) -> OtherMigration:
    applied: list[OtherStep] = []
    to_run: list[OtherStep] = []
    gates: list[tuple[Phase, GateCheck]] = []
    progress = record.in_progress
    for phase in PHASES:
        try:
            plan = plan_phase(migration, phase, server_version=server_version)
        except ExpandctlError:
            continue  # a migration that cannot be planned cannot run either
        steps = [OtherStep(phase, i, step) for i, step in enumerate(plan.steps)]
        if progress is not None and progress.phase is phase:
            # Forward: the steps recorded done ran. Rolling back: all of them had run.
            forward = progress.direction is Direction.FORWARD
            done = progress.next_step if forward else len(steps)
            applied.extend(steps[:done])
            to_run.extend(steps[done:])
        elif record.state.at_least(phase):
            applied.extend(steps)
        else:
            to_run.extend(steps)
            gates.extend((phase, gate) for gate in plan.gates)
    return OtherMigration(record, tuple(applied), tuple(to_run), tuple(gates))


def interference_of_phase(
    conn: psycopg.Connection[Any],
    migration: Migration,
    plan: PhasePlan,
    removals: Sequence[Removal],
    migrations: MigrationSet,
    records: Mapping[str, MigrationRecord],
) -> list[Interference]:
    """``find_interference`` against every other pending or in-flight migration of the set."""
    if not removals:
        return []
    server_version = conn.info.server_version // 10000
    # Undoing a phase cannot strand what has not started: a pending migration's
    # checks will refuse it later. Going forward, what it still has to run counts.
    others = other_migrations(
        migrations,
        records,
        current=migration.id,
        server_version=server_version,
        pending=plan.direction is Direction.FORWARD,
    )
    return find_interference(conn, migration, plan, removals, others)


def find_interference(
    conn: psycopg.Connection[Any],
    migration: Migration,
    plan: PhasePlan,
    removals: Sequence[Removal],
    others: Iterable[OtherMigration],
) -> list[Interference]:
    """Everything that still needs what ``plan`` removes: other migrations, then the catalog."""
    if not removals:
        return []
    own = _own_objects(migration)
    others = list(others)
    found: list[Interference] = []
    for removal in removals:
        earlier = _removed_by(removals, upto=removal.step_index)
        itself = f"{removal.kind}:{removal.name.lower()}"  # its users are what we look for
        mine = own & _removed_by(removals, upto=len(plan.steps))
        if removal.verb != "drop":
            # A rename or retype swaps shapes under the migration's own sync machinery,
            # which the same phase rewrites; its own objects are its own business.
            mine = own
        skip = (earlier | mine) - {itself}
        reported: set[str] = set()  # code objects already named under their migration
        for other in others:
            for interference, code_name in _migration_needs(removal, other):
                found.append(interference)
                if code_name:
                    reported.add(code_name)
        for need in catalog_needs(conn, removal, skip=skip):
            if reported & {need.name, need.function}:
                continue  # already reported under the migration that created it
            found.append(
                Interference(
                    removal,
                    need.what,
                    "live catalog",
                    f"drop or change {need.what} first, or keep {removal.label} until nothing "
                    "uses it",
                )
            )
    return found


def _removed_by(removals: Sequence[Removal], *, upto: int) -> frozenset[str]:
    """What the plan drops at or before step ``upto``, as ``kind:name``."""
    names: set[str] = set()
    for removal in removals:
        if removal.step_index <= upto and removal.verb == "drop":
            names.add(f"{removal.kind}:{removal.name.lower()}")
    return frozenset(names)


def _own_objects(migration: Migration) -> frozenset[str]:
    """Names of what the migration's own forward phases create."""
    names: set[str] = set()
    for phase in PHASES:
        try:
            plan = plan_phase(migration, phase)
        except ExpandctlError:
            continue
        for step in plan.steps:
            if isinstance(step, SqlStep):
                names.update(created_names(step.sql))
    kinds = ("function", "trigger", "view", "materialized view", "index", "constraint", "policy")
    return frozenset(f"{kind}:{name}" for name in names for kind in kinds)


# --- other migrations ------------------------------------------------------------------


def _migration_needs(
    removal: Removal, other: OtherMigration
) -> list[tuple[Interference, str | None]]:
    """Where ``other`` uses what ``removal`` takes away, with the code object's name if any."""
    attached = _trigger_functions(other, removal.table)
    dropped_by_other = _dropped_in_applied(other)
    uses: list[tuple[str, str, str | None]] = []  # (what, where, code object)
    for item in other.applied:
        if not isinstance(item.step, SqlStep):
            continue
        code = code_object(item.step.sql)
        if code is None or code[1] in dropped_by_other:
            continue
        if _uses(removal, item.step.sql, body_on_table=code[1] in attached):
            label = "sync function" if code[1] in attached and code[0] == "function" else code[0]
            on = f" on {removal.table}" if removal.table else ""
            uses.append((f"{label} {code[1]}{on}", f"{item.where}, applied", code[1]))
    for item in other.to_run:
        step = item.step
        if isinstance(step, SqlStep):
            code = code_object(step.sql)
            on_table = code is not None and code[1] in attached
            if _uses(removal, step.sql, body_on_table=on_table):
                uses.append((f"step {_short(step.sql)}", f"{item.where}, still to run", None))
        elif isinstance(step, BackfillStep) and _backfill_uses(removal, step):
            uses.append((f"backfill of {step.spec.table}", f"{item.where}, still to run", None))
    for phase, gate in other.gates:
        if gate.sql and _uses(removal, gate.sql, body_on_table=False):
            uses.append((f"gate {_short(gate.sql)}", f"{phase.value} gate, still to run", None))
    return [
        (_from_migration(removal, other, what, where), code_name)
        for what, where, code_name in dict.fromkeys(uses)
    ]


def _from_migration(removal: Removal, other: OtherMigration, what: str, where: str) -> Interference:
    mid = other.migration_id
    if other.pending:
        hint = (
            f"advance {mid} through contract first, or change {mid} so it no longer "
            f"uses {removal.label} (it is still pending)"
        )
    else:
        hint = f"contract {mid} first (expandctl advance {mid} --to contract), then run this phase"
    return Interference(removal, f"migration {mid}: {what}", where, hint, migration_id=mid)


def _uses(removal: Removal, sql: str, *, body_on_table: bool) -> bool:
    name = removal.name
    if removal.kind == "column":
        table = removal.table or ""
        return mentions(sql, name) and (body_on_table or mentions(sql, table))
    return mentions(sql, name)


def _backfill_uses(removal: Removal, step: BackfillStep) -> bool:
    spec = step.spec
    texts = [
        *spec.set,
        *spec.set.values(),
        spec.where or "",
        *(spec.key or []),
        spec.health_check or "",
    ]
    table = last_name(spec.table)
    if removal.kind == "table" and table == removal.name.lower():
        return True
    if removal.kind == "column" and table == (removal.table or "").lower():
        # the expressions name the backfilled table's columns unqualified
        return any(removal.name.lower() in identifiers(text) for text in texts)
    # a subquery, a join or a function call in them reads other objects too
    return any(_uses(removal, text, body_on_table=False) for text in texts if text)


def _trigger_functions(other: OtherMigration, table: str | None) -> set[str]:
    """Functions ``other`` attaches to triggers on ``table``: their bodies run on its rows."""
    if table is None:
        return set()
    functions: set[str] = set()
    for item in (*other.applied, *other.to_run):
        target = trigger_target(item.step.sql) if isinstance(item.step, SqlStep) else None
        if target is not None and target[0] == table.lower():
            functions.add(target[1])
    return functions


def _dropped_in_applied(other: OtherMigration) -> set[str]:
    """Code objects ``other`` created and has already dropped again (no longer there)."""
    names: set[str] = set()
    for item in other.applied:
        if isinstance(item.step, SqlStep):
            names.update(dropped_names(item.step.sql))
    return names


def _short(sql: str) -> str:
    text = " ".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:67] + "..."
