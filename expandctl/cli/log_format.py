"""``--log-format json``: one JSON object per line on stderr, for log shippers.

Every line has ``ts`` (RFC 3339, UTC), ``level``, ``event`` and ``message``;
the engine's structured events (docs/observability.md) add their fields, and
plain log messages are ``"event": "log"`` with the migration, phase and
direction of the phase running, when there is one. Passwords are masked in
every string, as in text output.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from expandctl.engine import events
from expandctl.engine.events import Event, FieldValue
from expandctl.model.redact import password_of, redact

EVENTS_LOGGER = "expandctl.events"
PROGRESS_EVERY_SECONDS = 5.0  # like the text log line: a long backfill is no flood
CORE_KEYS = ("ts", "level", "event", "message")


def rfc3339(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_line(
    *,
    event: str,
    message: str,
    level: str,
    fields: Mapping[str, FieldValue] | None = None,
    secrets: Iterable[str] = (),
    ts: float | None = None,
) -> str:
    """One log object, passwords masked in every string it holds."""
    masks = tuple(secrets)

    def clean(value: FieldValue) -> FieldValue:
        return redact(value, *masks) if isinstance(value, str) else value

    line: dict[str, FieldValue] = {
        "ts": rfc3339(time.time() if ts is None else ts),
        "level": level,
        "event": event,
        "message": clean(message),
    }
    for key, value in (fields or {}).items():
        if key not in CORE_KEYS:
            line[key] = clean(value)
    return json.dumps(line, ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """Log records as JSON lines; a record may carry ``event`` and ``fields`` in ``extra``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, FieldValue] = {**events.current_scope()}
        fields.update(getattr(record, "fields", None) or {})
        if not record.name.startswith("expandctl"):
            fields["logger"] = record.name  # psycopg's, the embedded server's
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(
            event=str(getattr(record, "event", "log")),
            message=record.getMessage(),
            level=record.levelname.lower(),
            fields=fields,
            secrets=self.secrets,
            ts=record.created,
        )


class EventLog:
    """Observer: each engine event becomes a record on ``expandctl.events``.

    Backfill ticks come once per batch: one line every few seconds per backfill,
    and whenever the backfill starts or stops waiting.
    """

    def __init__(self) -> None:
        self.logger = logging.getLogger(EVENTS_LOGGER)
        self.last_tick: dict[object, tuple[float, bool]] = {}

    def __call__(self, event: Event) -> None:
        if event.name == "backfill_progress" and not self._tick_due(event):
            return
        self.logger.log(
            event.level,
            event.message,
            extra={"event": event.name, "fields": dict(event.fields)},
        )

    def _tick_due(self, event: Event) -> bool:
        key = (event.fields.get("migration"), event.fields.get("index"))
        # Waiting or not: a reason's sentence changes tick by tick (the lag shrinks).
        reason = event.fields.get("throttled_reason") is not None
        now = time.monotonic()
        last = self.last_tick.get(key)
        if last is not None and last[1] == reason and now - last[0] < PROGRESS_EVERY_SECONDS:
            return False
        self.last_tick[key] = (now, reason)
        return True


def passwords(secrets: Iterable[str | None]) -> list[str]:
    """The passwords inside the URLs given, to mask wherever they turn up."""
    found = [password_of(secret) for secret in secrets]
    return [p for p in found if p]


def use_json_logs(secrets: Iterable[str | None]) -> Callable[[], None]:
    """Switch every log handler to JSON lines and log the engine's events; returns the undo."""
    formatter = JsonFormatter(passwords(secrets))
    handlers = [*logging.getLogger("expandctl").handlers, *logging.getLogger().handlers]
    previous = [(handler, handler.formatter) for handler in handlers]
    for handler in handlers:
        handler.setFormatter(formatter)
    unsubscribe = events.subscribe(EventLog())

    def undo() -> None:
        unsubscribe()
        for handler, old in previous:
            handler.setFormatter(old)

    return undo


def error_line(
    message: str, exit_code: int, secrets: Iterable[str | None], *, traceback: str | None = None
) -> str:
    """The one-line error of a failed command, as JSON (with -v, its traceback too)."""
    fields: dict[str, FieldValue] = {"exit_code": exit_code}
    if traceback:
        fields["traceback"] = traceback
    return json_line(
        event="error", message=message, level="error", fields=fields, secrets=passwords(secrets)
    )
