"""Parse every SQL expression and type a manifest pastes into generated SQL.

The model marks those fields (``expandctl.model.sql_slots``); here each one is
parsed with sqlglot (postgres dialect) and must be exactly one expression or
one data type: balanced parentheses and quotes, no top-level comma. Without
this, ``type = "text, DROP COLUMN victim"`` would add a column and drop another.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

_DIALECT = Dialect.get_or_raise("postgres")
_OPEN = {TokenType.L_PAREN, TokenType.L_BRACKET}
_CLOSE = {TokenType.R_PAREN, TokenType.R_BRACKET}
# Deeper than this is not an expression anyone writes, and it would exhaust
# the parser's recursion.
MAX_NESTING = 64
# sqlglot's time doubles with each nested ARRAY[...]; real SQL nests two or three.
MAX_ARRAY_NESTING = 8
# A statement is not an expression; a scalar subquery in parentheses is.
_STATEMENTS = (exp.Query, exp.DDL, exp.DML, exp.Command)


def slot_problem(text: str, kind: str) -> str | None:
    """Why ``text`` does not fit its slot (``expression`` or ``type``), or None."""
    try:
        structure = _structure_problem(text)
        if structure is not None:
            return structure
        if kind == "type":
            return _type_problem(text)
        return _expression_problem(text)
    except (SqlglotError, RecursionError, ValueError, TypeError, IndexError) as exc:
        return f"cannot be read as one SQL {kind}: {_first_line(exc)}"


def _structure_problem(text: str) -> str | None:
    depth = brackets = 0
    for token in _DIALECT.tokenize(text):
        if token.token_type in _OPEN:
            depth += 1
            brackets += token.token_type is TokenType.L_BRACKET
            if depth > MAX_NESTING:
                return f"is nested more than {MAX_NESTING} levels deep"
            if brackets > MAX_ARRAY_NESTING:
                return f"nests arrays more than {MAX_ARRAY_NESTING} levels deep"
        elif token.token_type in _CLOSE:
            depth -= 1
            brackets -= token.token_type is TokenType.R_BRACKET
            if depth < 0:
                return f"closes a parenthesis it did not open (at {token.text!r})"
        elif token.token_type is TokenType.COMMA and depth == 0:
            return "has a comma outside parentheses: it must be one item, not a list"
        elif token.token_type is TokenType.SEMICOLON:
            return "contains ';': it must be one item, not statements"
    if depth:
        return "leaves a parenthesis or bracket open"
    return None


def _type_problem(text: str) -> str | None:
    # A type is read in the one place PostgreSQL reads a bare type: a cast.
    tree = _DIALECT.parse(f"CAST(NULL AS {text})")
    cast = tree[0] if len(tree) == 1 else None
    extra = {k for k, v in cast.args.items() if v and k not in ("this", "to")} if cast else set()
    if not isinstance(cast, exp.Cast) or not isinstance(cast.args.get("to"), exp.DataType):
        return "is not one SQL data type"
    if extra:
        return "is a data type followed by more (a default, a constraint?): write only the type"
    return None


def _expression_problem(text: str) -> str | None:
    trees = _DIALECT.parse(text)
    if len(trees) != 1 or trees[0] is None:
        return "is not one SQL expression"
    if isinstance(trees[0], _STATEMENTS) and not isinstance(trees[0], exp.Subquery):
        return "is a statement, not an expression (a subquery needs parentheses)"
    return None


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if not isinstance(exc, SqlglotError):
        return "the parser does not understand it"
    errors = getattr(exc, "errors", None) or []
    if errors and errors[0].get("description"):
        return str(errors[0]["description"])
    return (str(exc).splitlines() or ["syntax error"])[0]
