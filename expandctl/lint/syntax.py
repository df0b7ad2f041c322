"""Is it valid PostgreSQL? Asked of PostgreSQL's own parser (libpg_query, via pglast).

sqlglot stays the analysis parser; this is only the yes/no, with the
server's own message ("syntax error at or near "TABEL""). pglast is
imported on first use, so commands that never lint pay nothing for it.

The file is parsed once, as the splitter's statements laid out at their own
offsets (comments, psql commands and COPY data blanked), so an error index
is an offset in the file. Only after a failure are the statements from the
failing one on parsed one by one, to find every error in one run. psql
variables and bind parameters (``:lo``, ``:'name'``, ``%(lo)s``: the linter
reads batch-loop SQL that has them) are parsed as a name or a literal of the
same length.

pglast carries one major version's grammar. A statement it rejects may still
be valid on the target version: syntax removed since then (``WITH OIDS``
before 12, postfix operators before 14), or syntax newer than pglast when the
target is newer. Those are ``uncertain``: reported as unverified, not as
errors.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from expandctl.model.sql_split import SqlStatement

_PYFORMAT = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)s")
_NEAR = re.compile(r'at or near "(?P<token>.*)"')
_OPERATOR_CHARS = frozenset("+-*/<>=~!@#%^&|`?")
# Syntax a PostgreSQL major accepted and a later one removed: (token the newer
# grammar stumbles on, last major that accepted it).
_REMOVED = {"OIDS": 11}  # WITH OIDS / SET WITH OIDS, removed in 12
_LAST_WITH_POSTFIX_OPERATORS = 13  # "SELECT 5 !" parses up to PostgreSQL 13


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """PostgreSQL's parser rejected a statement."""

    message: str  # PostgreSQL's message, e.g. 'syntax error at or near "TABEL"'
    offset: int  # where in the file (0-based)
    grammar: int  # the parser's PostgreSQL major version
    uncertain: str = ""  # why the target version may accept it anyway ("" = it will not)


def load_parser() -> None:
    """Import PostgreSQL's parser now (before forking workers that will all use it)."""
    import expandctl.lint.pg_parser  # noqa: F401


@cache
def grammar_version() -> int:
    """The PostgreSQL major version whose grammar pglast carries."""
    from expandctl.lint.pg_parser import get_postgresql_version

    major: int = get_postgresql_version()[0]
    return major


def find_syntax_problems(
    text: str,
    statements: Sequence[SqlStatement],
    *,
    pg_version: int,
    understood: Sequence[bool],
    variables: Sequence[tuple[int, int]] = (),
) -> dict[int, SyntaxProblem]:
    """Problems by statement index. ``understood[i]``: the reader classified
    statement ``i`` (so a newer grammar than pglast's may well accept it).
    ``variables``: (start, end) of psql variables / bind parameters."""
    if not statements:
        return {}
    from expandctl.lint.pg_parser import ParseError, split

    def rejects(sql: str) -> tuple[str, int | None] | None:
        try:
            split(sql, with_parser=True, only_slices=True)
        except ParseError as exc:
            message, index = [*exc.args, None, None][:2]
            return str(message), index if isinstance(index, int) else None
        return None

    problems: dict[int, SyntaxProblem] = {}
    laid_out = _with_values(_laid_out(statements), variables)
    failure = rejects(laid_out)
    if failure is None:
        return problems
    starts = [s.start for s in statements]
    _, index = failure
    first_bad = len(statements) - 1 if index is None else max(bisect_right(starts, index) - 1, 0)
    for position in range(first_bad, len(statements)):
        statement = statements[position]
        found = rejects(laid_out[statement.start : statement.end])
        if found is None:
            continue
        message, index = found
        at = statement.start + (index if index is not None else len(statement.text.rstrip()))
        problem = SyntaxProblem(message, at, grammar_version())
        why = _why_uncertain(problem, statement, text, pg_version, understood[position])
        problems[position] = SyntaxProblem(message, at, problem.grammar, why)
    return problems


def _with_values(sql: str, variables: Sequence[tuple[int, int]]) -> str:
    """``:lo`` -> ``___``, ``:'x'`` -> `` 'x'``, ``%(lo)s`` -> ``______``: same length."""
    if not variables and "%(" not in sql:
        return sql
    pieces: list[str] = []
    last = 0
    for start, end in variables:
        pieces.append(sql[last:start])
        follows = sql[start + 1 : start + 2]
        if follows in ("'", '"'):  # :'x' is a literal, :"x" a name, once psql fills them in
            pieces.append(" " + sql[start + 1 : end])
        elif follows == "{":
            pieces.append("true".ljust(end - start))  # :{?x} is a boolean
        else:
            pieces.append("_" * (end - start))
        last = end
    pieces.append(sql[last:])
    return _PYFORMAT.sub(lambda m: "_" * len(m.group(0)), "".join(pieces))


def _laid_out(statements: Sequence[SqlStatement]) -> str:
    """The statements at their own offsets, separated by ';' and blanks."""
    pieces: list[str] = []
    position = 0
    for statement in statements:
        gap = statement.start - position
        if pieces:
            pieces.append(";" + " " * (gap - 1) if gap > 0 else ";")
        else:
            pieces.append(" " * gap)
        pieces.append(statement.text)
        position = statement.end
    return "".join(pieces)


def _why_uncertain(
    problem: SyntaxProblem, statement: SqlStatement, text: str, pg_version: int, understood: bool
) -> str:
    grammar = problem.grammar
    if pg_version > grammar and understood:
        return (
            f"the check uses PostgreSQL {grammar}'s grammar; PostgreSQL {pg_version} "
            "may accept newer syntax"
        )
    if pg_version >= grammar:
        return ""
    near = _NEAR.search(problem.message)
    token = near.group("token").upper() if near else ""
    last = _REMOVED.get(token)
    if last is not None and pg_version <= last:
        return f"{token} was removed from the grammar after PostgreSQL {last}"
    before = text[statement.start : problem.offset].rstrip()
    if pg_version <= _LAST_WITH_POSTFIX_OPERATORS and before and before[-1] in _OPERATOR_CHARS:
        return (
            "it may use a postfix operator, which PostgreSQL "
            f"{_LAST_WITH_POSTFIX_OPERATORS} still accepted"
        )
    return ""
