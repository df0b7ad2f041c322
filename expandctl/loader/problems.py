"""Every problem of one file, reported at once, each with its file:line.

A manifest with a typo and a placeholder left in used to say "unknown key …
(and 1 more problem)" and hide the other one. ``problems_error`` builds one
error from all of them: its message and line are the first problem's (so
callers that read ``.message`` / ``.line`` keep working) and it renders as one
``file:line: what (what to do)`` line per problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from expandctl.errors import ConfigError, ExpandctlError, ManifestError


@dataclass(frozen=True)
class Problem:
    message: str
    line: int | None = None
    hint: str | None = None


class _SeveralProblems(ExpandctlError):
    problems: tuple[Problem, ...] = ()

    def __str__(self) -> str:
        return "\n".join(
            str(ExpandctlError(p.message, path=self.path, line=p.line, hint=p.hint))
            for p in self.problems
        )


class ManifestProblems(_SeveralProblems, ManifestError):
    """More than one problem in a migration.toml."""


class ConfigProblems(_SeveralProblems, ConfigError):
    """More than one problem in a configuration or fleet file."""


def problems_error(
    problems: Sequence[Problem], path: Path, error_type: type[ManifestError | ConfigError]
) -> ManifestError | ConfigError:
    """One error carrying every problem, in the order given (the first is the error's own)."""
    ordered = list(problems)
    first = ordered[0]
    if len(ordered) == 1:
        return error_type(first.message, path=path, line=first.line, hint=first.hint)
    others = "; ".join(f"line {p.line}: {p.message}" if p.line else p.message for p in ordered[1:])
    several = ManifestProblems if issubclass(error_type, ManifestError) else ConfigProblems
    error = several(f"{first.message}; also {others}", path=path, line=first.line, hint=first.hint)
    error.problems = tuple(ordered)
    return error
