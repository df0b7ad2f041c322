"""Durations written the PostgreSQL way: ``500ms``, ``1s``, ``10min``, ``2h``, ``1d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)\s*$")
# PostgreSQL's timeouts (lock_timeout, statement_timeout) are int milliseconds.
PG_TIMEOUT_MAX_MS = 2_147_483_647
# Any other duration (a soak time, a lag limit): 100 years is already "never".
DURATION_MAX_MS = 36_500 * 86_400_000


def parse_duration(value: object, *, max_ms: int = DURATION_MAX_MS) -> timedelta:
    """Parse ``"1s"``-style text; a bare number is refused (which unit would it be?)."""
    if isinstance(value, timedelta):
        _check_bound(value.total_seconds() * 1000, value, max_ms)
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"expected a duration with a unit such as '500ms', '1s', '10min', '2h', got {value!r}"
        )
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(
            f"invalid duration {value!r}: write a number and a unit (ms, s, min, h, d), e.g. '1s'"
        )
    number, unit = match.groups()
    milliseconds = float(number) * _UNITS_MS[unit]
    _check_bound(milliseconds, value, max_ms)
    if 0 < milliseconds < 1:
        # PostgreSQL counts these timeouts in whole milliseconds, and 0 means
        # "no limit": '0.4ms' would silently switch the protection off.
        raise ValueError(
            f"duration {value!r} is below 1ms, which PostgreSQL would read as 0 (no limit);"
            " use at least '1ms'"
        )
    return timedelta(milliseconds=milliseconds)


def parse_pg_timeout(value: object) -> timedelta:
    """A duration PostgreSQL will accept as a timeout setting."""
    return parse_duration(value, max_ms=PG_TIMEOUT_MAX_MS)


def _check_bound(milliseconds: float, value: object, max_ms: int) -> None:
    # Checked before building a timedelta: a huge number would overflow it.
    if milliseconds > max_ms:
        shown = value if isinstance(value, str) else format_duration(value)  # type: ignore[arg-type]
        if max_ms == PG_TIMEOUT_MAX_MS:
            raise ValueError(
                f"duration {shown!r} is longer than PostgreSQL accepts for a timeout:"
                f" at most {PG_TIMEOUT_MAX_MS}ms (about 24.8 days)"
            )
        raise ValueError(
            f"duration {shown!r} is too long: at most {max_ms // 86_400_000}d (100 years)"
        )


def format_duration(value: timedelta) -> str:
    """The shortest exact PostgreSQL spelling, e.g. ``1500ms`` or ``10min``."""
    ms = round(value.total_seconds() * 1000)
    for unit in ("d", "h", "min", "s"):
        size = _UNITS_MS[unit]
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def to_milliseconds(value: timedelta) -> int:
    return round(value.total_seconds() * 1000)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
# A duration sent to PostgreSQL as a timeout setting (lock_timeout, statement_timeout).
PgTimeout = Annotated[
    timedelta,
    BeforeValidator(parse_pg_timeout),
    PlainSerializer(format_duration, return_type=str),
]
