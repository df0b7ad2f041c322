"""Adaptive batch size: aim each batch at ``target_batch_ms`` of locked rows.

After every batch the measured rows-per-millisecond gives the size that would
have taken exactly the target; the next size moves halfway there, at most
doubling or halving, so one slow batch (a checkpoint, a cold page) does not
swing it wildly. A fixed ``batch_size`` stays fixed except after a retry.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_BATCH = 10
MAX_BATCH = 100_000
FIRST_AUTO_BATCH = 1_000


@dataclass
class BatchSizer:
    target_ms: float
    size: int = FIRST_AUTO_BATCH
    adaptive: bool = True
    smoothing: float = 0.5  # weight of the newest measurement
    ceiling: int = MAX_BATCH
    learnt: bool = False  # the size comes from measured batches, not a first guess

    @classmethod
    def for_spec(cls, batch_size: int | str, target_ms: float) -> BatchSizer:
        if isinstance(batch_size, int):
            return cls(target_ms=target_ms, size=batch_size, adaptive=False, ceiling=batch_size)
        return cls(target_ms=target_ms)

    def observe(self, rows: int, elapsed_ms: float) -> None:
        """Fold in one finished batch of ``rows`` rows that held locks ``elapsed_ms``."""
        if not self.adaptive:
            # recover from a retry shrink, one doubling per good batch
            self.size = min(self.ceiling, self.size * 2)
            return
        if rows <= 0 or rows < self.size // 2:
            # the last, short batch of a range says little about speed
            return
        self.learnt = True
        ideal = rows * self.target_ms / max(elapsed_ms, 0.1)
        blended = (1 - self.smoothing) * self.size + self.smoothing * ideal
        bounded = min(self.size * 2.0, max(self.size / 2.0, blended))
        self.size = int(min(self.ceiling, max(MIN_BATCH, bounded)))

    def retarget(self, target_ms: float) -> None:
        """Aim at ``target_ms`` from the next batch: the size scales at once.

        A parallel pass switches between its quiet and busy targets when other
        sessions start or stop working; waiting for the halving steps of
        :meth:`observe` would keep long batches going while they wait.
        """
        if not self.adaptive or target_ms == self.target_ms:
            return
        if self.learnt:  # a first guess was never aimed at either target
            scaled = self.size * target_ms / self.target_ms
            self.size = int(min(self.ceiling, max(MIN_BATCH, scaled)))
        self.target_ms = target_ms

    def shrink(self) -> None:
        """After a lock or statement timeout, deadlock or serialization failure."""
        self.size = max(MIN_BATCH, self.size // 2)
