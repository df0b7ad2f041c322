"""Prometheus metrics of one expandctl run, fed by the engine's events.

Served over HTTP while the command runs (``--metrics-port``) and/or written to
a textfile for node_exporter's textfile collector (``--metrics-textfile``:
atomically, at most every few seconds while the run goes on, and at the end).
Imported only when one of those options is given: prometheus_client never
slows down ``expandctl lint``. docs/observability.md lists every metric.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from expandctl.engine import events
from expandctl.engine.events import Event
from expandctl.errors import UsageError

log = logging.getLogger("expandctl")

TEXTFILE_EVERY_SECONDS = 5.0
PHASE_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, float("inf"))
BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, float("inf"))
PHASE_LABELS = ("migration", "phase", "direction")


def throttle_reason(text: str | None) -> str:
    """A throttle's sentence as one of a few label values (never the sentence itself)."""
    if not text:
        return "none"
    lowered = text.lower()
    for needle, label in (
        ("paused", "paused"),
        ("replication slot", "replication_slot"),
        ("standby", "replication_lag"),
        ("wal rate", "wal_rate"),
        ("pause_on_vacuum", "vacuum"),
        ("pause_on_lock_waits", "lock_waits"),
        ("health_check", "health_check"),
    ):
        if needle in lowered:
            return label
    return "other"


@dataclass
class _Stream:
    """One backfill (migration, index) as its ticks come in."""

    rows_done: int
    rows_scanned: int
    reason: str | None  # the throttle_reason() label while waiting
    counted_rows: int = 0
    counted_batches: int = 0


class Metrics:
    """Every metric expandctl exposes, in a registry of its own."""

    def __init__(self) -> None:
        # No *_created series: they only clutter a textfile.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.phase_transitions = Counter(
            "expandctl_phase_transitions_total",
            "Phase runs that ended, by result (ok, failed, interrupted).",
            [*PHASE_LABELS, "result"],
            registry=r,
        )
        self.phase_duration = Histogram(
            "expandctl_phase_duration_seconds",
            "How long a phase run took, start to end.",
            [*PHASE_LABELS, "result"],
            buckets=PHASE_BUCKETS,
            registry=r,
        )
        self.phase_in_progress = Gauge(
            "expandctl_phase_in_progress",
            "1 while this phase runs in this process.",
            PHASE_LABELS,
            registry=r,
        )
        self.steps = Counter(
            "expandctl_steps_total",
            "Steps run and recorded done.",
            PHASE_LABELS,
            registry=r,
        )
        self.lock_retries = Counter(
            "expandctl_lock_retries_total",
            "Statements retried after a lock timeout or deadlock.",
            [*PHASE_LABELS, "reason"],
            registry=r,
        )
        self.rows = Counter(
            "expandctl_backfill_rows_total",
            "Rows updated by backfill batches in this run.",
            ["migration"],
            registry=r,
        )
        self.batches = Counter(
            "expandctl_backfill_batches_total",
            "Backfill batches committed in this run.",
            ["migration"],
            registry=r,
        )
        self.batch_retries = Counter(
            "expandctl_backfill_batch_retries_total",
            "Backfill batches redone after a lock or statement timeout, deadlock or"
            " serialization failure (added when the backfill ends).",
            ["migration"],
            registry=r,
        )
        self.batch_duration = Histogram(
            "expandctl_backfill_batch_duration_seconds",
            "How long each backfill batch's find-and-update took.",
            ["migration"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.rows_done = Gauge(
            "expandctl_backfill_rows_done",
            "Rows done in the current pass, earlier interrupted runs included.",
            ["migration"],
            registry=r,
        )
        self.rows_estimate = Gauge(
            "expandctl_backfill_rows_estimate",
            "Rows the current pass is expected to cover (an estimate).",
            ["migration"],
            registry=r,
        )
        self.throttle_pauses = Counter(
            "expandctl_backfill_throttle_pauses_total",
            "Times the backfill stopped to wait, by reason.",
            ["migration", "reason"],
            registry=r,
        )
        self.throttled = Gauge(
            "expandctl_backfill_throttled",
            "1 while the backfill waits (paused, replicas behind, ...), else 0.",
            ["migration"],
            registry=r,
        )
        self.lag_bytes = Gauge(
            "expandctl_replication_lag_bytes",
            "WAL a standby has not replayed yet, as the backfill throttle last saw it.",
            ["standby"],
            registry=r,
        )
        self.lag_seconds = Gauge(
            "expandctl_replication_lag_seconds",
            "A standby's replay lag, as the backfill throttle last saw it.",
            ["standby"],
            registry=r,
        )
        self._streams: dict[tuple[str, int], _Stream] = {}
        self._lock = threading.Lock()

    def observe(self, event: Event) -> None:
        handler = self._handlers.get(event.name)
        if handler is not None:
            with self._lock:
                handler(self, event)

    def _phase(self, event: Event) -> tuple[str, str, str]:
        migration, phase, direction = (str(event.fields.get(k) or "") for k in PHASE_LABELS)
        return migration, phase, direction

    def _phase_started(self, event: Event) -> None:
        self.phase_in_progress.labels(*self._phase(event)).set(1)

    def _phase_finished(self, event: Event) -> None:
        labels = self._phase(event)
        result = str(event.fields.get("result") or "ok")
        self.phase_in_progress.labels(*labels).set(0)
        self.phase_transitions.labels(*labels, result).inc()
        self.phase_duration.labels(*labels, result).observe(_number(event, "seconds"))

    def _step_finished(self, event: Event) -> None:
        self.steps.labels(*self._phase(event)).inc()

    def _lock_retry(self, event: Event) -> None:
        reason = str(event.fields.get("reason") or "other")
        self.lock_retries.labels(*self._phase(event), reason).inc()

    def _backfill_progress(self, event: Event) -> None:
        f = event.fields
        migration = str(f.get("migration") or "")
        key = (migration, int(_number(event, "index")))
        rows_done, scanned = int(_number(event, "rows_done")), int(_number(event, "rows_scanned"))
        reason = f.get("throttled_reason")
        reason = str(reason) if reason else None
        stream = self._streams.get(key)
        if stream is None:
            # The first tick's baseline is unknown (a resumed pass starts above 0):
            # its rows are counted at backfill_finished, from the exact result.
            stream = self._streams[key] = _Stream(rows_done, scanned, None)
            new_batch = reason is None
        else:
            new_batch = reason is None and scanned > stream.rows_scanned
            rows = max(0, rows_done - stream.rows_done)
            self.rows.labels(migration).inc(rows)
            stream.counted_rows += rows
        if new_batch:
            self.batches.labels(migration).inc()
            stream.counted_batches += 1
            self.batch_duration.labels(migration).observe(_number(event, "last_batch_ms") / 1000)
        # One wait is many ticks, their sentences changing (the lag shrinks): a new
        # pause is a new reason label, or waiting again after a batch.
        label = throttle_reason(reason) if reason is not None else None
        if label is not None and label != stream.reason:
            self.throttle_pauses.labels(migration, label).inc()
        self.throttled.labels(migration).set(1 if reason else 0)
        stream.rows_done, stream.rows_scanned, stream.reason = rows_done, scanned, label
        self.rows_done.labels(migration).set(rows_done)
        self.rows_estimate.labels(migration).set(_number(event, "rows_estimate"))

    def _backfill_finished(self, event: Event) -> None:
        migration = str(event.fields.get("migration") or "")
        stream = self._streams.pop((migration, int(_number(event, "index"))), None)
        counted_rows = stream.counted_rows if stream else 0
        counted_batches = stream.counted_batches if stream else 0
        # The result is exact: make the counters agree with it.
        self.rows.labels(migration).inc(max(0, int(_number(event, "rows_updated")) - counted_rows))
        self.batches.labels(migration).inc(max(0, int(_number(event, "batches")) - counted_batches))
        self.batch_retries.labels(migration).inc(_number(event, "retries"))
        self.throttled.labels(migration).set(0)
        self.rows_done.labels(migration).set(_number(event, "rows_done"))

    def _replication_lag(self, event: Event) -> None:
        standby = str(event.fields.get("standby") or "")
        self.lag_bytes.labels(standby).set(_number(event, "lag_bytes"))
        self.lag_seconds.labels(standby).set(_number(event, "lag_seconds"))

    _handlers: ClassVar[dict[str, Callable[[Metrics, Event], None]]] = {
        "phase_started": _phase_started,
        "phase_finished": _phase_finished,
        "step_finished": _step_finished,
        "lock_retry": _lock_retry,
        "backfill_progress": _backfill_progress,
        "backfill_finished": _backfill_finished,
        "replication_lag": _replication_lag,
    }


def _number(event: Event, name: str) -> float:
    value = event.fields.get(name)
    return float(value) if isinstance(value, int | float) else 0.0


class TextfileWriter:
    """Writes the registry to PATH atomically: now and then while running, and at the end."""

    # Written right away, not only every few seconds: a scrape shows the phase boundary.
    URGENT = frozenset({"phase_started", "phase_finished", "backfill_finished"})

    def __init__(self, metrics: Metrics, path: Path) -> None:
        self.metrics = metrics
        self.path = path
        self.last = 0.0
        self.warned = False

    def observe(self, event: Event) -> None:
        now = time.monotonic()
        if event.name in self.URGENT or now - self.last >= TEXTFILE_EVERY_SECONDS:
            self.last = now
            self.write()

    def write(self) -> None:
        try:
            prometheus_client.write_to_textfile(str(self.path), self.metrics.registry)
        except OSError as exc:
            if not self.warned:  # the migration goes on; the operator learns why once
                self.warned = True
                log.warning("could not write the metrics textfile %s: %s", self.path, exc)


def start_metrics(*, host: str, port: int | None, textfile: Path | None) -> Callable[[], None]:
    """Start collecting (and serving); returns what to call when the command ends."""
    if textfile is not None and not textfile.parent.is_dir():
        raise UsageError(
            f"--metrics-textfile {textfile}: directory {textfile.parent} does not exist",
            hint="point it into node_exporter's --collector.textfile.directory",
        )
    metrics = Metrics()
    stops: list[Callable[[], None]] = [events.subscribe(metrics.observe)]
    if port is not None:
        try:
            server, _ = prometheus_client.start_http_server(port, host, metrics.registry)
        except OSError as exc:
            stops[0]()
            raise UsageError(
                f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})",
                hint="choose a free port, or 0 for any free port",
            ) from None
        bound = server.server_address[1]
        log.info(
            "serving metrics on http://%s:%d/metrics",
            _url_host(host),
            bound,
            extra={"event": "metrics_listening", "fields": {"host": host, "port": bound}},
        )

        def stop_server() -> None:
            server.shutdown()
            server.server_close()

        stops.append(stop_server)
    if textfile is not None:
        writer = TextfileWriter(metrics, textfile)
        stops.append(events.subscribe(writer.observe))
        writer.write()  # a run that fails at once still leaves a file behind
        stops.append(writer.write)  # the final figures

    def stop() -> None:
        for step in stops:
            step()

    return stop


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
