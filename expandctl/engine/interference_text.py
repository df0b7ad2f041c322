"""Which SQL texts mention an object: identifiers read with a small tokenizer, no parser.

Comments and single-quoted strings are skipped (an error message naming a
column does not use it); dollar-quoted bodies are read, because function
bodies are exactly where a sync trigger uses a column. Names compare
case-insensitively: a false alarm costs a re-run, a miss costs writes.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(
    r"""
    (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>[EeBbXxNnUu]?'(?:[^']|'')*')
  | (?P<dollar>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    """,
    re.S | re.X,
)
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = rf"{_NAME}(?:\s*\.\s*{_NAME})*"
_CREATED = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?(?:CONSTRAINT\s+)?(?:MATERIALIZED\s+)?"
    r"(?:FUNCTION|PROCEDURE|TRIGGER|VIEW|INDEX|POLICY|TYPE|SEQUENCE)\s+"
    rf"(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})"
    rf"|\bADD\s+CONSTRAINT\s+(?P<constraint>{_NAME})",
    re.I,
)
_CODE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?(?:MATERIALIZED\s+)?"
    r"(?P<kind>FUNCTION|PROCEDURE|TRIGGER|VIEW|POLICY|RULE)\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})",
    re.I,
)
_TRIGGER = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+{_NAME}\s.*?"
    rf"\bON\s+(?P<table>{_QUALIFIED})\s.*?"
    rf"\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\s+(?P<function>{_QUALIFIED})",
    re.I | re.S,
)


@lru_cache(maxsize=4096)
def identifiers(sql: str) -> frozenset[str]:
    """Every identifier ``sql`` uses, lower-cased; keywords included (harmless)."""
    found: set[str] = set()
    for match in _TOKEN.finditer(sql):
        if match.lastgroup == "word":
            found.add(match.group("word").lower())
        elif match.lastgroup == "quoted":
            found.add(match.group("quoted")[1:-1].replace('""', '"').lower())
    return frozenset(found)


def mentions(sql: str, *names: str) -> bool:
    """Whether ``sql`` uses every one of ``names`` as an identifier."""
    words = identifiers(sql)
    return all(name.lower() in words for name in names)


def last_name(qualified: str) -> str:
    """``public."Users"`` -> ``users``; lower-cased like every comparison here."""
    parts = re.findall(_NAME, qualified)
    part = parts[-1] if parts else qualified
    if part.startswith('"'):
        part = part[1:-1].replace('""', '"')
    return part.lower()


def created_names(sql: str) -> set[str]:
    """Names of the functions, triggers, views, indexes, constraints ... ``sql`` creates."""
    names: set[str] = set()
    for match in _CREATED.finditer(_without_strings(sql)):
        names.add(last_name(match.group("name") or match.group("constraint")))
    return names


@lru_cache(maxsize=4096)
def code_object(sql: str) -> tuple[str, str] | None:
    """(kind, name) when ``sql`` creates code that runs later: a function, trigger, view ..."""
    match = _CODE.match(_without_comments(sql))
    if match is None:
        return None
    return match.group("kind").lower(), last_name(match.group("name"))


@lru_cache(maxsize=4096)
def trigger_target(sql: str) -> tuple[str, str] | None:
    """(table, function) of a CREATE TRIGGER statement."""
    match = _TRIGGER.match(_without_comments(sql))
    if match is None:
        return None
    return last_name(match.group("table")), last_name(match.group("function"))


def _without_comments(sql: str) -> str:
    return _TOKEN.sub(lambda m: " " if m.lastgroup == "comment" else m.group(0), sql)


def _without_strings(sql: str) -> str:
    return _TOKEN.sub(lambda m: " " if m.lastgroup in ("comment", "string") else m.group(0), sql)


_DROPPED = re.compile(
    r"\bDROP\s+(?:MATERIALIZED\s+)?(?:FUNCTION|PROCEDURE|TRIGGER|VIEW|POLICY|RULE)\s+"
    rf"(?:IF\s+EXISTS\s+)?(?P<name>{_QUALIFIED})",
    re.I,
)


def dropped_names(sql: str) -> set[str]:
    """Names of the functions, triggers, views, policies ``sql`` drops."""
    return {last_name(m.group("name")) for m in _DROPPED.finditer(_without_strings(sql))}
