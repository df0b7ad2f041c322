"""Show a running backfill: a live bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from expandctl.engine.backfill import BackfillProgress

LOG_EVERY_SECONDS = 5.0
BAR_WIDTH = 28


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def describe(p: BackfillProgress) -> str:
    """One line of numbers, shared by the bar and the log line."""
    state = f" [{p.throttled_reason}]" if p.throttled_reason else ""
    # With several workers the rows, rate and ETA are the whole pass's; the batch is the
    # last one any worker finished.
    workers = f"{p.workers} workers, " if p.workers > 1 else ""
    # Updated rows count the whole pass (every run); the share is of rows *scanned*
    # (a row already right is scanned, not updated); the rate is this run's.
    return (
        f"{p.table}: {p.rows_done:,} rows updated, scanned {p.fraction:.0%} of"
        f" ~{p.rows_estimate:,}, {workers}{p.rows_per_second:,.0f} rows/s this run,"
        f" ETA {format_eta(p.eta_seconds)},"
        f" batch {p.batch_size:,} ({p.last_batch_ms:.0f} ms){state}"
    )


class ProgressRenderer:
    """Callable handed to ``run_backfill(progress=...)``."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream: Any = stream or sys.stderr
        self.tty = tty if tty is not None else bool(getattr(self.stream, "isatty", bool)())
        self.last_log = 0.0
        self.last_width = 0

    def __call__(self, p: BackfillProgress) -> None:
        if self.tty:
            self._bar(p)
        else:
            self._log(p)

    def _bar(self, p: BackfillProgress) -> None:
        filled = int(BAR_WIDTH * p.fraction)
        line = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {describe(p)}"
        pad = max(0, self.last_width - len(line))
        self.stream.write(line + " " * pad)
        self.last_width = len(line)
        if p.fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()

    def _log(self, p: BackfillProgress) -> None:
        now = time.monotonic()
        if now - self.last_log < LOG_EVERY_SECONDS and p.fraction < 1.0:
            return
        self.last_log = now
        self.stream.write(f"backfill {p.migration_id}[{p.index}] {describe(p)}\n")
        self.stream.flush()
