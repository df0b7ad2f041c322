"""Statements of a SQL text, each with its position and what it does.

Splitting uses the shared splitter (``expandctl.model.sql_split``) so the
linter and the engine agree on what a statement is. Each statement is
tokenised once; DDL is read from the tokens (``classify``), DML and anything
unrecognised is parsed once by sqlglot from the same tokens.

PostgreSQL's own parser then says whether each statement is valid at all
(``syntax``). What the splitter found that is not a statement (psql
commands, COPY data, template placeholders) becomes *notes*: positions with
an action the ``input`` rules report.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from dataclasses import dataclass

from expandctl.errors import LintError
from expandctl.lint import actions as a
from expandctl.lint.classify import classify
from expandctl.lint.dml import read_write
from expandctl.lint.input_actions import (
    CopyDataRows,
    InvalidSyntax,
    PsqlMetaCommand,
    Templated,
    TemplateFile,
)
from expandctl.lint.syntax import find_syntax_problems
from expandctl.lint.tokens import nesting_depth, tokenize
from expandctl.model.sql_split import Placeholder, ScannedSql, SqlStatement, split_script

_DML_FIRST = frozenset({"UPDATE", "DELETE", "WITH", "MERGE"})
_PLAIN_WRITES = frozenset({"UPDATE", "DELETE"})
_FIRST_WORD = re.compile(r"[A-Za-z_]+")
_QUICK_HARMLESS = frozenset(
    {"SELECT", "INSERT", "COMMENT", "SET", "RESET", "SHOW", "GRANT", "ANALYZE", "NOTIFY"}
)
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_ROUTINE = re.compile(
    rf"CREATE\s+(?:OR\s+REPLACE\s+)?(?P<kind>FUNCTION|PROCEDURE)\s+"
    rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)",
    re.IGNORECASE,
)
_NAME_PART = re.compile(_IDENT)
_INSERT_INTO = re.compile(
    rf"INSERT\s+INTO\s+(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)", re.IGNORECASE
)
_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
# sqlglot's parser recurses once per level; deeper SQL is left unverified
# rather than risk exhausting the stack.
MAX_NESTING = 100
# sqlglot's time doubles with each nested ARRAY[...] (20 levels: 40 s); real
# SQL nests arrays two or three deep.
MAX_ARRAY_NESTING = 8
BOM = "\ufeff"
# Control characters other than tab, LF and CR (PostgreSQL cuts a statement at a NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Statement:
    sql: SqlStatement
    actions: tuple[a.Action, ...]
    source_line: str  # the full text of the line the statement starts on
    index: int  # 0-based position in its file

    @property
    def line(self) -> int:
        return self.sql.line

    @property
    def column(self) -> int:
        return self.sql.column


@dataclass(frozen=True, slots=True)
class SourceRead:
    """A text's statements, and its notes: what is in the file but is no statement
    (a psql command, COPY data, the first template placeholder), each as a
    ``Statement`` with a negative index and one ``input_actions`` action."""

    statements: list[Statement]
    notes: list[Statement]


def read_statements(text: str, *, pg_version: int = 15) -> list[Statement]:
    return read_source(text, pg_version=pg_version).statements


def read_source(text: str, *, pg_version: int = 15) -> SourceRead:
    """The statements of ``text``; a leading BOM is dropped (editors do not show
    it: the first character is column 1, as when the loader reads a file), a
    control character is refused.

    A statement PostgreSQL's parser rejects gets an ``InvalidSyntax`` action:
    alone when it is an error, before its other actions when the target
    version may accept it. A statement holding a template placeholder is
    only ``Templated``: it is not SQL yet.
    """
    text = text.removeprefix(BOM)
    _refuse_control_characters(text)
    scanned = split_script(text)
    lines = text.splitlines()
    templates = [p for p in scanned.placeholders if p.kind == "template"]
    templated = _templated(scanned.statements, templates)
    out: list[Statement] = []
    for index, sql in enumerate(scanned.statements):
        source_line = lines[sql.line - 1] if sql.line - 1 < len(lines) else ""
        actions = (Templated(),) if index in templated else tuple(read_actions(sql.text))
        out.append(Statement(sql, actions, source_line, index))
    starts = [s.start for s in scanned.statements]
    variables = [
        p
        for p in scanned.placeholders
        if p.kind == "variable" and _statement_at(starts, p.start) not in templated
    ]
    _check_syntax(text, out, templated, variables, pg_version)
    return SourceRead(out, _notes(scanned, templates, lines, len(templated)))


def _templated(statements: list[SqlStatement], templates: list[Placeholder]) -> set[int]:
    """Indexes of the statements a template placeholder sits in."""
    starts = [s.start for s in statements]
    return {_statement_at(starts, p.start) for p in templates}


def _statement_at(starts: list[int], offset: int) -> int:
    """The statement a placeholder sits in (a placeholder always starts or
    continues a statement, so it is the last one starting at or before it)."""
    return bisect_right(starts, offset) - 1


def _check_syntax(
    text: str,
    statements: list[Statement],
    templated: set[int],
    variables: list[Placeholder],
    pg_version: int,
) -> None:
    checked = [s for s in statements if s.index not in templated]
    understood = [not any(isinstance(x, a.Unknown) for x in s.actions) for s in checked]
    problems = find_syntax_problems(
        text,
        [s.sql for s in checked],
        pg_version=pg_version,
        understood=understood,
        variables=[(v.start, v.end) for v in variables],
    )
    for position, problem in problems.items():
        statement = checked[position]
        line = statement.line + text.count("\n", statement.sql.start, problem.offset)
        column = problem.offset - text.rfind("\n", 0, problem.offset)
        invalid = InvalidSyntax(
            message=problem.message,
            line=line,
            column=column,
            grammar=problem.grammar,
            uncertain=problem.uncertain,
        )
        actions = (invalid, *statement.actions) if problem.uncertain else (invalid,)
        statements[statement.index] = Statement(
            statement.sql, actions, statement.source_line, statement.index
        )


def _notes(
    scanned: ScannedSql, templates: list[Placeholder], lines: list[str], templated: int
) -> list[Statement]:
    notes: list[tuple[SqlStatement, a.Action]] = []
    for command in scanned.psql_commands:
        sql = _at(command.text, command.start, command.end, command.line, command.column)
        notes.append((sql, PsqlMetaCommand(name=command.name, text=command.text)))
    for data in scanned.copy_data:
        sql = _at("", data.start, data.end, data.line, 1, end_line=data.end_line)
        notes.append((sql, CopyDataRows(rows=data.rows, end_line=data.end_line)))
    if templates:
        first = templates[0]
        sql = _at(first.text, first.start, first.end, first.line, first.column)
        found = len(templates)
        template = TemplateFile(first=first.text, placeholders=found, statements=templated)
        notes.append((sql, template))
    return [
        Statement(sql, (action,), lines[sql.line - 1] if sql.line - 1 < len(lines) else "", -1 - k)
        for k, (sql, action) in enumerate(notes)
    ]


def _at(
    text: str, start: int, end: int, line: int, column: int, *, end_line: int | None = None
) -> SqlStatement:
    return SqlStatement(
        text=text,
        start=start,
        end=end,
        line=line,
        column=column,
        end_line=end_line or line,
        leading_comments=(),
        terminated=False,
    )


def read_actions(sql: str) -> list[a.Action]:
    quick = _quick_read(sql)
    if quick is not None:
        return quick
    toks = tokenize(sql)
    if toks is None:
        return [a.Unknown(reason="the text cannot be tokenised (an unterminated string?)")]
    if not toks:
        return [a.Harmless(what="empty")]
    if toks[0].word not in _DML_FIRST:
        found = classify(toks, read_actions)
        if found is not None:
            return found
    if nesting_depth(toks) > MAX_NESTING:
        return [a.Unknown(reason=f"it is nested more than {MAX_NESTING} levels deep")]
    if nesting_depth(toks, "[", "]") > MAX_ARRAY_NESTING:
        return [a.Unknown(reason=f"it nests arrays more than {MAX_ARRAY_NESTING} levels deep")]
    if toks[0].word in _PLAIN_WRITES and (write := read_write(sql, toks)) is not None:
        return [write]
    from expandctl.lint.tree_actions import read_tree  # loads sqlglot: only DML gets here

    return read_tree(sql, toks[0].text.upper())


def _refuse_control_characters(text: str) -> None:
    found = _CONTROL.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    raise LintError(
        f"line {line}, column {column}: control character U+{ord(found.group()):04X}"
        " is not allowed (PostgreSQL would cut the statement at a NUL)",
        hint="remove it; write it as an escape in SQL",
    )


def _quick_read(sql: str) -> list[a.Action] | None:
    """Statements whose first word settles what they do, read without tokenising.

    Most of a migration's text is often function bodies, inserts and comments;
    none can take a strong lock or break old code, so they skip the tokenizer.
    """
    first = _FIRST_WORD.match(sql)
    if first is None or sql.count("'") % 2:
        return None  # an odd quote count may be an unterminated string: tokenise it
    # Interned: a 10 MB file holds a few distinct words and tables in 280k statements.
    word = sys.intern(first.group(0).upper())
    if word == "INSERT" and (target := _INSERT_INTO.match(sql)) is not None:
        return [a.Harmless(what=word, table=sys.intern(_fold(target.group("name"))))]
    if word in _QUICK_HARMLESS:
        return [a.Harmless(what=word)]
    if word == "CREATE" and (routine := _ROUTINE.match(sql)) is not None:
        kind = routine.group("kind").lower()
        return [a.CreateObject(kind=kind, name=_fold(routine.group("name")))]
    return None


def _fold(name: str) -> str:
    """A possibly quoted, possibly qualified name as the token reader would spell it."""
    parts = []
    for part in _NAME_PART.findall(name):
        if part.startswith('"'):
            inner = part[1:-1].replace('""', '"')
            parts.append(inner if _PLAIN.fullmatch(inner) else part)
        else:
            parts.append(part.lower())
    return ".".join(parts)
