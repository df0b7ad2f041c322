"""One phase of one migration, derived once: what runs, and whether it may.

``advance``, ``rollback``, ``plan``, ``status`` and the ``backfill``
subcommands all call ``derive_phase``; ``plan`` renders ``PhaseView.plan`` and
``advance`` runs that same object, so "plan shows exactly what advance runs"
holds by construction, and both refuse for the same reasons.

It lives in ``commands``, not ``engine``: it joins the engine's pieces (the
decision, the resume rule, gates evaluated on the live database) with the
linter's findings for the very steps about to run, and ``lint`` and
``engine`` may not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from expandctl.engine.catalog_facts import read_catalog_facts
from expandctl.engine.checks import checks_refusal, evaluate_checks
from expandctl.engine.decide import (
    Decision,
    decide_advance,
    decide_rollback,
    resume_problem,
)
from expandctl.engine.gates import GateStatus, gate_statuses
from expandctl.engine.interference import interference_of_phase
from expandctl.engine.session import Session
from expandctl.errors import CheckFailed, HazardRefused, StateError
from expandctl.lint import Finding, RuleSet, lint_migration, rule_set
from expandctl.lint.removals import removals
from expandctl.model.config import Settings
from expandctl.model.facts import fact_requests, with_catalog_facts
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import Phase
from expandctl.model.planning import plan_phase
from expandctl.model.state import MigrationRecord
from expandctl.model.steps import Direction, PhasePlan

RefusalKind = Literal["state", "resume", "lint", "check", "interference", "gate"]
ACCEPT_RISK_HINT = (
    "fix the statement (the finding says the safe way), suppress it in the file with "
    "'-- expandctl-ignore: <rule> <reason>', or pass --accept-risk \"REASON\" (recorded in history)"
)


class Blocker(Protocol):
    """A read-only finding that forbids the phase: a failed catalog check, an interference."""

    @property
    def message(self) -> str: ...

    @property
    def hint(self) -> str | None: ...


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    message: str
    hint: str | None = None
    path: str | None = None  # the migration folder, where that helps find what to fix


@dataclass(frozen=True)
class ResumeVerdict:
    """How an interrupted run of this phase goes on (all None/False for a fresh run)."""

    resume_from: int | None = None  # 0-based step the interrupted run continues at
    fresh_start: bool = False  # it stopped before any step was recorded: start again
    problem: tuple[str, str] | None = None  # (refusal, hint): steps that ran were edited
    changed_after: int | None = None  # files changed after this many steps ran: resume with them


@dataclass
class PhaseView:
    """Everything a command needs to know about the next phase of one migration."""

    migration: Migration
    direction: Direction
    record: MigrationRecord
    decision: Decision
    offline: bool  # planned from files alone: no state, no gates, no catalog
    plan: PhasePlan | None = None  # None: nothing to do, or refused before planning
    resume: ResumeVerdict = field(default_factory=ResumeVerdict)
    gates: list[GateStatus] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # lint, this phase + direction
    accepted_risk: str | None = None  # the reason error findings were accepted with
    needs_confirmation: bool = False
    check_failures: list[Blocker] = field(default_factory=list)
    interference: list[Blocker] = field(default_factory=list)

    @property
    def phase(self) -> Phase | None:
        return self.plan.phase if self.plan is not None else self.decision.phase

    @property
    def nothing_to_do(self) -> str | None:
        return self.decision.nothing_to_do

    @property
    def lint_errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def refusals(self) -> list[Refusal]:
        """Why the phase may not run, most fundamental first; empty when it may."""
        hints = self.decision.hints
        found = [
            Refusal("state", message, hints[i] if i < len(hints) else None)
            for i, message in enumerate(self.decision.refusals)
        ]
        if self.resume.problem is not None:
            message, hint = self.resume.problem
            found.append(Refusal("resume", message, hint, path=self.migration.path))
        if self.accepted_risk is None:
            found.extend(
                Refusal(
                    "lint",
                    f"{f.location}: {f.rule_id} {f.rule_name}: {f.message}",
                    ACCEPT_RISK_HINT,
                )
                for f in self.lint_errors
            )
        found.extend(Refusal("check", c.message, c.hint) for c in self.check_failures)
        found.extend(Refusal("interference", i.message, i.hint) for i in self.interference)
        if self.plan is not None:
            found.extend(
                Refusal(
                    "gate",
                    f"gate {g.kind} for {self.plan.phase.value} of {self.migration.id} "
                    f"does not hold: {g.problem}",
                    "nothing was changed; try again once the gate holds",
                )
                for g in self.gates
                if g.checked and g.problem is not None
            )
        return found


def derive_phase(
    session: Session | None,
    migration: Migration,
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    direction: Direction,
    *,
    settings: Settings,
    phase: Phase | None = None,
    accept_risk: str | None = None,
    missing: list[MigrationRecord] | None = None,
) -> PhaseView:
    """The next phase of ``migration`` in ``direction``, and every reason it may not run.

    Without a ``session`` the view is planned from the files alone for
    ``phase`` (``plan --phase``, the backfill subcommands): lint applies with
    the configured ``pg_version``; state, gates and the catalog are not read.
    Reads only: nothing is locked, written or run. ``missing`` (recorded
    migrations whose folder is gone, ``missing_records``) is computed once by
    callers that derive many migrations.
    """
    record = records.get(migration.id) or MigrationRecord(id=migration.id)
    rollback = direction is Direction.ROLLBACK
    if session is None:
        if phase is None:
            raise ValueError("an offline view needs the phase to plan")
        decision = Decision(migration.id, direction, phase)
        record = MigrationRecord(id=migration.id)
    elif rollback:
        decision = decide_rollback(migration, migrations, records)
    else:
        decision = decide_advance(migration, migrations, records, missing=missing)
    view = PhaseView(migration, direction, record, decision, offline=session is None)
    if decision.phase is None or decision.nothing_to_do:
        return view
    if rollback and not decision.phase.reversible and decision.refusals:
        return view  # the decision already says contract is the point of no return
    server_version = session.server_version if session is not None else settings.pg_version
    conflicts: list[Blocker] = []
    if session is not None:  # what the manifest leaves out, the catalog says (facts.py)
        columns, types = fact_requests(migration)
        facts = read_catalog_facts(session.control, columns, types, server_version)
        migration, found = with_catalog_facts(migration, facts)
        view.migration, conflicts = migration, list(found)
    plan = plan_phase(migration, decision.phase, rollback=rollback, server_version=server_version)
    view.plan = plan
    view.check_failures = list(conflicts)
    view.resume = _resume_verdict(migration, record, decision, plan)
    resuming = view.resume.resume_from is not None
    view.gates = _gates(session, plan, record, settings, check=not resuming and not rollback)
    # Confirm what destroys something: a contract or rollback with no step destroys nothing.
    destructive = bool(plan.steps) and (plan.irreversible or rollback)
    view.needs_confirmation = not resuming and destructive
    if not plan.steps:
        return view  # nothing runs: nothing to lint, to check, or that could interfere
    view.findings = _lint_findings(migration, plan, server_version, settings)
    if accept_risk and view.lint_errors:
        view.accepted_risk = accept_risk
    failures, view.interference = _live_blockers(
        session, migration, plan, migrations, records, start=view.resume.resume_from or 0
    )
    view.check_failures = [*conflicts, *failures]
    return view


def refuse(view: PhaseView) -> None:
    """Raise the view's first refusal (HazardRefused, with the findings, when it is lint)."""
    refusals = view.refusals
    if not refusals:
        return
    first = refusals[0]
    if first.kind == "lint":
        errors = view.lint_errors
        assert view.plan is not None
        s = "s" if len(errors) != 1 else ""
        rules = ", ".join(dict.fromkeys(f.rule_id for f in errors))
        others = len(refusals) - len(errors)
        also = f" (and {others} other refusal{'s' if others != 1 else ''})" if others else ""
        raise HazardRefused(
            f"{view.plan.verb} {view.plan.phase.value} of {view.migration.id}: "
            f"{len(errors)} error-level lint finding{s} ({rules}) in the steps it would run; "
            f"nothing ran{also}",
            findings=list(errors),
            hint=ACCEPT_RISK_HINT,
        )
    more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
    error = CheckFailed if first.kind == "check" else StateError
    raise error(first.message + more, path=first.path, hint=first.hint)


def _resume_verdict(
    migration: Migration, record: MigrationRecord, decision: Decision, plan: PhasePlan
) -> ResumeVerdict:
    progress = record.in_progress
    if decision.fresh_start or progress is None:
        return ResumeVerdict(fresh_start=decision.fresh_start)
    changed = not migration.checksum_matches(plan.phase, progress.checksum)
    problem = resume_problem(migration, progress, plan)
    return ResumeVerdict(
        resume_from=decision.resume_from,
        problem=problem,
        changed_after=progress.next_step if changed and problem is None else None,
    )


def _gates(
    session: Session | None,
    plan: PhasePlan,
    record: MigrationRecord,
    settings: Settings,
    *,
    check: bool,
) -> list[GateStatus]:
    """Gates of a fresh forward run, evaluated read-only; others are shown, not checked."""
    if session is None or not check:
        return [GateStatus(g.summary, g.kind, None, checked=False) for g in plan.gates]
    if not plan.gates:
        return []  # no round trip for the time when no gate needs it
    now = session.store.now(session.control)
    return gate_statuses(session.control, plan, record, settings, now)


def _lint_findings(
    migration: Migration, plan: PhasePlan, pg_version: int, settings: Settings
) -> list[Finding]:
    """The lint findings of exactly the steps this phase and direction run."""
    rollback = plan.direction is Direction.ROLLBACK
    results = lint_migration(
        migration, pg_version=pg_version, rules=_rules(settings), until=(plan.phase, rollback)
    )
    return [
        finding
        for result in results
        if result.phase is plan.phase and result.rollback == rollback
        for finding in result.findings
    ]


def _rules(settings: Settings) -> RuleSet:
    """The configured rule set, built once per configuration (``status`` asks per migration)."""
    key = settings.lint.model_dump_json()
    found = _RULE_SETS.get(key)
    if found is None:
        found = _RULE_SETS[key] = rule_set(settings.lint)
    return found


_RULE_SETS: dict[str, RuleSet] = {}


def _live_blockers(
    session: Session | None,
    migration: Migration,
    plan: PhasePlan,
    migrations: MigrationSet,
    records: dict[str, MigrationRecord],
    *,
    start: int,
) -> tuple[list[Blocker], list[Blocker]]:
    """Catalog checks that fail now, and what in flight still needs what the phase removes.

    Both read only, from step ``start`` on (steps an interrupted run recorded
    done are not judged again), and both refuse the phase when non-empty. A
    check that an earlier step of the same phase may yet satisfy is not
    definite: it runs in its group instead of refusing up front.
    """
    if session is None:
        return [], []
    failed = evaluate_checks(session.control, plan.steps, start=start)
    # One refusal naming every failure, as the runner gives it, once any is definite.
    refused = [checks_refusal(plan, failed)] if any(f.definite for f in failed) else []
    removed = [r for r in removals(plan) if r.step_index >= start]
    found = interference_of_phase(session.control, migration, plan, removed, migrations, records)
    return list(refused), list(found)
