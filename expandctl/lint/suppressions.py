"""``-- expandctl-ignore: <rule>[, <rule>] <reason>`` comments.

A comment directly above a statement suppresses the named rules for that
statement; ``-- expandctl-ignore-file:`` anywhere suppresses them for the
whole file. A reason is mandatory, an unknown rule is an error, and a
suppression that suppressed nothing is reported as unused.

Generated SQL has no comments: an operation states on its step which findings
its statement raises by design, and why (``SqlStep.accepted``). Those count
as suppressed like a comment with a reason, and are never reported as unused:
whether a rule fires can depend on the server version or the migration.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expandctl.lint.registry import find_rule
from expandctl.model.sql_split import SqlComment, find_comments

if TYPE_CHECKING:  # the plan's pydantic models: not needed for a plain .sql file
    from expandctl.model.steps import AcceptedHazard

MARKER = "expandctl-ignore"
_COMMENT = re.compile(r"^--\s*expandctl-ignore(?P<file>-file)?\s*:?\s*(?P<body>.*)$", re.S)
_BODY = re.compile(r"^(?P<rules>[A-Za-z0-9-]+(?:\s*,\s*[A-Za-z0-9-]+)*)\s*(?P<reason>.*)$", re.S)


@dataclass
class Suppression:
    rule_ids: frozenset[str]
    reason: str
    line: int
    column: int
    file_level: bool
    text: str
    used: bool = False


@dataclass(frozen=True)
class BadSuppression:
    line: int
    column: int
    message: str
    text: str


def accepts(accepted: Sequence[AcceptedHazard], rule_id: str) -> bool:
    """True when a generated step's accepted hazards name ``rule_id``."""
    return any(hazard.rule_id == rule_id for hazard in accepted)


def read_suppressions(
    text: str, statement_starts: list[int]
) -> tuple[dict[int, list[Suppression]], list[Suppression], list[BadSuppression]]:
    """Per-statement suppressions (by statement index), file-level ones, and problems."""
    per_statement: dict[int, list[Suppression]] = {}
    file_level: list[Suppression] = []
    problems: list[BadSuppression] = []
    if MARKER not in text:
        return per_statement, file_level, problems
    for comment in find_comments(text):
        match = _COMMENT.match(comment.text.strip())
        if not match:
            continue
        parsed = _parse(comment, match.group("body").strip(), bool(match.group("file")))
        if isinstance(parsed, BadSuppression):
            problems.append(parsed)
        elif parsed.file_level:
            file_level.append(parsed)
        else:
            index = _next_statement(statement_starts, comment.start)
            if index is None:
                problems.append(
                    BadSuppression(
                        comment.line, comment.column, "no statement follows it", comment.text
                    )
                )
            else:
                per_statement.setdefault(index, []).append(parsed)
    return per_statement, file_level, problems


def _parse(comment: SqlComment, body: str, file_level: bool) -> Suppression | BadSuppression:
    def bad(message: str) -> BadSuppression:
        return BadSuppression(comment.line, comment.column, message, comment.text)

    match = _BODY.match(body)
    if not match:
        return bad("name the rule(s) to suppress, then a reason")
    reason = match.group("reason").strip()
    ids: set[str] = set()
    for key in re.split(r"\s*,\s*", match.group("rules")):
        rule = find_rule(key)
        if rule is None:
            return bad(f"unknown rule {key!r}")
        ids.add(rule.id)
    if not reason:
        return bad("a reason is required after the rule(s), e.g. '... L101 table has 40 rows'")
    return Suppression(
        rule_ids=frozenset(ids),
        reason=reason,
        line=comment.line,
        column=comment.column,
        file_level=file_level,
        text=comment.text,
    )


def _next_statement(starts: list[int], offset: int) -> int | None:
    for index, start in enumerate(starts):
        if start > offset:
            return index
    return None
