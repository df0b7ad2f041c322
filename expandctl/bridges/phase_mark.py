"""Which phase a revision belongs to: expand, unless the revision file says otherwise.

A revision is marked by a module (Alembic) or ``Migration`` class (Django)
attribute ``expandctl_phase = "contract"``, or a line ``expandctl: contract``
on its own in a comment or docstring. Read from the file's text, so marking
needs no import of the revision.
"""

from __future__ import annotations

import re
from pathlib import Path

from expandctl.errors import UsageError
from expandctl.model.phases import Phase

_ATTRIBUTE = re.compile(r"""^\s*expandctl_phase\s*(?::[^=]*)?=\s*["']([^"']*)["']""")
_TAG = re.compile(r"^\s*(?:#\s*)?expandctl:\s*(\S+)\s*$", re.IGNORECASE)


def marked_phase(text: str, path: Path | str) -> Phase:
    """The phase the revision at ``path`` is marked with; ``expand`` when unmarked."""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ATTRIBUTE.match(line) or _TAG.match(line)
        if match:
            return _phase(match.group(1), path, number)
    return Phase.EXPAND


def _phase(value: str, path: Path | str, line: int) -> Phase:
    name = value.strip().lower().replace("_", "-")
    try:
        return Phase(name)
    except ValueError:
        phases = ", ".join(p.value for p in Phase)
        raise UsageError(
            f"unknown expandctl phase {value!r} in a revision mark",
            path=path,
            line=line,
            hint=f"use one of {phases}",
        ) from None
