"""What a statement does, read from sqlglot's tree: DML and what the keyword reader
does not know (``classify``). Imported on first use: it loads sqlglot."""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from expandctl.lint import actions as a
from expandctl.lint.bounded import bounded_where
from expandctl.lint.glot import PARSER_FAILURES, parse_one

# Node types that are whole statements; anything else parsed from an unknown
# first word is a misreading, not a known statement.
_STATEMENT_NODES = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Merge)


def read_tree(sql: str, first_word: str) -> list[a.Action]:
    """The actions of ``sql`` as sqlglot parses it; ``Unknown`` when it cannot."""
    try:
        tree = parse_one(sql)
    except PARSER_FAILURES as exc:
        return [a.Unknown(reason=f"sqlglot cannot parse it: {_first_line(exc)}")]
    if tree is None:
        return [a.Unknown(reason="sqlglot reads no statement in it")]
    return _from_tree(tree, first_word)


def _from_tree(tree: Any, first_word: str) -> list[a.Action]:
    if tree is None:
        return [a.Harmless(what="empty")]
    if isinstance(tree, exp.Command):
        return [a.Unknown(reason=f"sqlglot reads {first_word} only as an opaque command")]
    if not isinstance(tree, _STATEMENT_NODES):
        # e.g. "FOO BAR" parses as a column with an alias: not a statement we know
        return [a.Unknown(reason=f"{first_word} is not a statement the linter knows")]
    writes = [node for node in tree.walk() if isinstance(node, exp.Update | exp.Delete)]
    if writes:
        return [_write(node) for node in writes]
    return [a.Harmless(what=type(tree).__name__)]


def _write(node: exp.Update | exp.Delete) -> a.Action:
    verb = "UPDATE" if isinstance(node, exp.Update) else "DELETE"
    where = node.args.get("where")
    condition = where.this if where is not None else None
    trivial = isinstance(condition, exp.Boolean) and condition.this is True
    if isinstance(condition, exp.EQ) and condition.left == condition.right:
        trivial = isinstance(condition.left, exp.Literal)
    table = node.this if isinstance(node.this, exp.Table) else node.find(exp.Table)
    return a.WriteRows(
        table=table_name(table) if table is not None else None,
        verb=verb,
        where=where is not None,
        trivial_where=trivial,
        bounded=bounded_where(where),  # judged on this tree: L112 need not parse again
    )


def table_name(table: exp.Table) -> str:
    parts = [table.args.get("db"), table.args.get("this")]
    names = []
    for part in parts:
        if isinstance(part, exp.Identifier):
            names.append(part.this if part.quoted else part.this.lower())
    return ".".join(names)


def _first_line(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if not isinstance(exc, SqlglotError):
        return "the parser does not understand it"
    errors = getattr(exc, "errors", None) or []
    if errors:
        return str(errors[0].get("description") or "syntax error")
    return str(exc).splitlines()[0] if str(exc) else "syntax error"


def tables_read_by_insert(text: str) -> tuple[str, ...] | None:
    """The tables an INSERT reads rows from (not its target); None if unreadable."""
    try:
        tree = parse_one(text)
    except PARSER_FAILURES:
        return None
    if not isinstance(tree, exp.Insert):
        return None
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    return tuple(_name(table) for table in tree.find_all(exp.Table) if table is not target)


def _name(table: exp.Table) -> str:
    schema = table.args.get("db")
    quoted = isinstance(table.this, exp.Identifier) and table.this.quoted
    name = table.name if quoted else table.name.lower()
    if isinstance(schema, exp.Identifier):
        return f"{schema.name}.{name}"
    return name
