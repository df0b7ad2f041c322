"""Structured events: what the engine did, as data, for whoever listens.

The engine calls :func:`emit` at the points an operator wants to count or
follow (a phase started or finished, a step done, a lock retry, a backfill
tick). Observers (the CLI's Prometheus metrics and JSON log lines) subscribe;
with none subscribed an ``emit`` costs one list check. The engine knows nothing
about Prometheus or JSON.

Fields are flat scalars. :func:`scope` adds fields (migration, phase,
direction) to every event emitted inside it, in this thread, so code deep in
the engine (a lock retry) need not be told which phase it serves.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeVar

from pydantic import BaseModel

log = logging.getLogger("expandctl")

FieldValue = str | int | float | bool | None


@dataclass(frozen=True)
class Event:
    name: str  # snake_case: phase_started, phase_finished, step_finished, lock_retry, ...
    message: str  # one human sentence; the fields carry the data
    fields: Mapping[str, FieldValue]
    level: int = logging.INFO
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))


Observer = Callable[[Event], None]

_observers: list[Observer] = []
_lock = threading.Lock()
_scope: contextvars.ContextVar[Mapping[str, FieldValue]] = contextvars.ContextVar(
    "expandctl_event_scope", default=MappingProxyType({})
)
_failed_observers: set[int] = set()


def subscribe(observer: Observer) -> Callable[[], None]:
    """Call ``observer`` with every event from now on; returns the unsubscribe."""
    with _lock:
        _observers.append(observer)

    def unsubscribe() -> None:
        with _lock:
            if observer in _observers:
                _observers.remove(observer)

    return unsubscribe


def listening() -> bool:
    return bool(_observers)


@contextlib.contextmanager
def scope(**fields: FieldValue) -> Iterator[None]:
    """Every event emitted inside (in this thread) carries these fields too."""
    token = _scope.set({**_scope.get(), **fields})
    try:
        yield
    finally:
        _scope.reset(token)


def current_scope() -> Mapping[str, FieldValue]:
    return _scope.get()


def emit(name: str, message: str, *, level: int = logging.INFO, **fields: FieldValue) -> None:
    """Tell every observer. An observer that fails never stops the migration."""
    if not _observers:
        return
    event = Event(name, message, {**_scope.get(), **fields}, level)
    for observer in tuple(_observers):
        try:
            observer(event)
        except Exception:
            # Metrics or a log line must not break a phase half-way; say it once.
            if id(observer) not in _failed_observers:
                _failed_observers.add(id(observer))
                log.warning("an event observer failed on %s; ignoring it", name, exc_info=True)


Tick = TypeVar("Tick", bound=BaseModel)


def reporting(
    name: str, message: Callable[[Tick], str], inner: Callable[[Tick], None] | None
) -> Callable[[Tick], None] | None:
    """Wrap a progress callback so each tick is also the event ``name`` (its fields)."""
    if not _observers:
        return inner

    def report(tick: Tick) -> None:
        fields = {k: v for k, v in tick.model_dump().items() if _scalar(v)}
        if "migration_id" in fields:  # every event names it "migration"
            fields["migration"] = fields.pop("migration_id")
        emit(name, message(tick), **fields)
        if inner is not None:
            inner(tick)

    return report


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
