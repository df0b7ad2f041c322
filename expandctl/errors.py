"""The exception family. Every error a user can cause is an ExpandctlError.

Each error carries a one-line message, optionally where it happened
(``file:line``) and what to do about it. The CLI maps the class to an exit
code; nothing else inspects the class names.
"""

from __future__ import annotations

from pathlib import Path


class ExpandctlError(Exception):
    """Base class: a problem the user can fix. Exit code 2 unless overridden."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.hint = hint

    @property
    def location(self) -> str | None:
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(ExpandctlError):
    """The configuration (pyproject.toml, expandctl.toml, env, flags) is invalid."""


class ManifestError(ExpandctlError):
    """A migration folder or its migration.toml is malformed."""


class UsageError(ExpandctlError):
    """The command was called in a way that cannot work (bad id, bad phase ...)."""


class LintError(ExpandctlError):
    """The linter itself could not run (unreadable file, bad suppression ...)."""


class DatabaseError(ExpandctlError):
    """PostgreSQL refused or dropped us: connection loss, timeout, SQL error."""

    exit_code = 3


class StateError(ExpandctlError):
    """The recorded state forbids the request: phase out of order, drift, gate."""

    exit_code = 4


class LockBusyError(StateError):
    """Another expandctl holds the advisory lock for too long."""


class CheckFailed(StateError):
    """An operation's precondition does not hold in the live catalog; nothing was applied."""


class HazardRefused(StateError):
    """The phase about to run has error-level lint findings and no recorded reason to accept them.

    ``findings`` are the lint findings (``expandctl.lint.Finding``), for the CLI to
    print the way ``expandctl lint`` does; kept untyped here because errors
    imports nothing of ours.
    """

    def __init__(self, message: str, *, findings: list[object], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.findings = findings


class ConfirmationNeeded(StateError):
    """An irreversible (or destructive) step needs --yes or an answer on a terminal."""


class Declined(ExpandctlError):
    """Someone answered no at a confirmation prompt: nothing was changed (not an error)."""

    exit_code = 5

    def __init__(self, subject: str) -> None:
        super().__init__("nothing changed")
        self.subject = subject  # what was not run, e.g. "contract of 0003_x"


class Interrupted(ExpandctlError):
    """Ctrl-C (SIGINT) stopped a run; the message says what was saved and how to go on."""

    exit_code = 130
