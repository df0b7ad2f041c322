"""The five phases of expand-and-contract and a migration's state among them."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """One deploy's worth of schema change, in the only order they may run."""

    EXPAND = "expand"
    BACKFILL = "backfill"
    SWITCH_READS = "switch-reads"
    SWITCH_WRITES = "switch-writes"
    CONTRACT = "contract"

    @property
    def position(self) -> int:
        return PHASES.index(self)

    @property
    def next(self) -> Phase | None:
        i = self.position + 1
        return PHASES[i] if i < len(PHASES) else None

    @property
    def previous(self) -> Phase | None:
        return PHASES[self.position - 1] if self.position > 0 else None

    @property
    def reversible(self) -> bool:
        """Contract drops the old shape: there is nothing left to roll back to."""
        return self is not Phase.CONTRACT


PHASES: tuple[Phase, ...] = tuple(Phase)


class State(StrEnum):
    """A migration's state: ``pending`` or the last phase it completed."""

    PENDING = "pending"
    EXPAND = "expand"
    BACKFILL = "backfill"
    SWITCH_READS = "switch-reads"
    SWITCH_WRITES = "switch-writes"
    CONTRACT = "contract"

    @property
    def phase(self) -> Phase | None:
        """The phase this state says was completed last (None when pending)."""
        return None if self is State.PENDING else Phase(self.value)

    @property
    def next_phase(self) -> Phase | None:
        """The phase ``advance`` would run next (None when fully contracted)."""
        done = self.phase
        return PHASES[0] if done is None else done.next

    @property
    def complete(self) -> bool:
        return self is State.CONTRACT

    @classmethod
    def after(cls, phase: Phase | None) -> State:
        return cls.PENDING if phase is None else cls(phase.value)

    def at_least(self, phase: Phase) -> bool:
        done = self.phase
        return done is not None and done.position >= phase.position
