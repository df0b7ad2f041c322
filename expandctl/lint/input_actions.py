"""Actions for input that is not (only) plain PostgreSQL: syntax errors,
template placeholders, psql meta-commands and COPY data.

Kept apart from ``actions`` (what statements do to the database): these say
what the file is, and only the ``input`` rules look at them.
"""

from __future__ import annotations

from dataclasses import dataclass

from expandctl.lint.actions import Action


@dataclass(slots=True)
class InvalidSyntax(Action):
    """PostgreSQL's parser rejects the statement."""

    message: str = ""
    line: int = 1  # where the parser stopped, 1-based
    column: int = 1
    grammar: int = 0  # the PostgreSQL major version of the parser's grammar
    uncertain: str = ""  # why the target version may accept it anyway


@dataclass(slots=True)
class Templated(Action):
    """A statement with a template placeholder in it: not SQL until rendered."""


@dataclass(slots=True)
class TemplateFile(Action):
    """The file holds template placeholders; one per file, at the first."""

    first: str = ""
    placeholders: int = 0
    statements: int = 0  # how many statements hold one (they are not checked)


@dataclass(slots=True)
class PsqlMetaCommand(Action):
    """A psql meta-command line (``\\set``, ``\\connect``, ``\\i`` ...)."""

    name: str = ""
    text: str = ""


@dataclass(slots=True)
class CopyDataRows(Action):
    """The data rows after ``COPY … FROM stdin``, up to ``\\.``."""

    rows: int = 0
    end_line: int = 0
