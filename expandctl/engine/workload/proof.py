"""Advance a migration through every phase under live old and new clients.

Which app versions are live follows the expand-and-contract story: old
clients from the start through switch-writes (its rollout included); new
clients from the end of switch-reads on. Each reversible phase is rolled back
and re-applied while the clients that are live in it keep running. Every
window (a phase forward, its rollback, its re-apply) is timed and counts the
requests served and the errors seen per version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from expandctl.engine.workload.clients import Workload
from expandctl.model.phases import PHASES, Phase

VERSIONS = ("old", "new")


@dataclass
class Window:
    label: str
    phase: str
    direction: str  # forward, rollback, re-apply, soak
    duration_ms: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    live: tuple[str, ...] = ()
    # The slowest single request per version during the window (ms): lock waits show here.
    slowest_ms: dict[str, int] = field(default_factory=dict)


@dataclass
class ProofRun:
    windows: list[Window] = field(default_factory=list)
    # Phases whose rollback left a schema different from the one before the phase.
    schema_drift: list[str] = field(default_factory=list)

    def errors_while_live(self, version: str) -> int:
        return sum(w.errors.get(version, 0) for w in self.windows if version in w.live)


PhaseAction = Callable[[Phase], None]
WindowCallback = Callable[[Window], None]


def live_versions(phase: Phase, *, done: bool) -> tuple[str, ...]:
    """Who runs while ``phase`` is being applied (``done=False``) or once it is (``True``)."""
    if phase is Phase.CONTRACT:
        return ("new",)
    if phase is Phase.SWITCH_WRITES or (phase is Phase.SWITCH_READS and done):
        return ("old", "new")
    return ("old",)


class Prover:
    def __init__(
        self,
        workload: Workload,
        advance: PhaseAction,
        rollback: PhaseAction,
        *,
        soak_seconds: float = 0.3,
        on_window: WindowCallback | None = None,
        snapshot: Callable[[], object] | None = None,
    ) -> None:
        self.workload = workload
        self.advance = advance
        self.rollback = rollback
        self.soak_seconds = soak_seconds
        self.on_window = on_window
        self.snapshot = snapshot  # the schema as comparable data, e.g. catalog rows
        self.run = ProofRun()

    def _set_live(self, versions: tuple[str, ...]) -> None:
        for version in VERSIONS:
            if version in versions:
                self.workload.enable(version)
            else:
                self.workload.disable(version)

    def _window(
        self, label: str, phase: Phase | None, direction: str, action: Callable[[], None]
    ) -> Window:
        w = self.workload
        live = tuple(v for v in VERSIONS if w.live(v))
        before_requests = {v: w.requests(v) for v in VERSIONS}
        before_errors = {v: len(w.errors(v)) for v in VERSIONS}
        for version in VERSIONS:
            w.take_slowest(version)
        w.timeline.set(label)
        started = time.monotonic()
        action()
        window = Window(
            label=label,
            phase=phase.value if phase else "-",
            direction=direction,
            duration_ms=int((time.monotonic() - started) * 1000),
            requests={v: w.requests(v) - before_requests[v] for v in VERSIONS},
            errors={v: len(w.errors(v)) - before_errors[v] for v in VERSIONS},
            live=live,
            slowest_ms={v: round(w.take_slowest(v)) for v in VERSIONS},
        )
        self.run.windows.append(window)
        if self.on_window:
            self.on_window(window)
        return window

    def _soak(self, label: str, phase: Phase | None) -> None:
        self._window(label, phase, "soak", lambda: time.sleep(self.soak_seconds))

    def prove(
        self,
        *,
        with_rollbacks: bool = True,
        before_contract: Callable[[], None] | None = None,
    ) -> ProofRun:
        """Every phase forward (each reversible one also undone and redone) under traffic."""
        self._set_live(("old",))
        self._soak("before expand", None)
        for phase in PHASES:
            if phase is Phase.CONTRACT:
                self._set_live(())
                if before_contract:
                    before_contract()
            self._set_live(live_versions(phase, done=False))
            before = self.snapshot() if self.snapshot and phase.reversible else None
            self._window(phase.value, phase, "forward", partial(self.advance, phase))
            self._set_live(live_versions(phase, done=True))
            self._soak(f"after {phase.value}", phase)
            if with_rollbacks and phase.reversible:
                self._set_live(live_versions(phase, done=False))
                self._window(
                    f"{phase.value} rollback", phase, "rollback", partial(self.rollback, phase)
                )
                if self.snapshot and self.snapshot() != before:
                    self.run.schema_drift.append(phase.value)
                self._window(
                    f"{phase.value} re-apply", phase, "re-apply", partial(self.advance, phase)
                )
                self._set_live(live_versions(phase, done=True))
                self._soak(f"after {phase.value} again", phase)
        self._set_live(())
        return self.run
