"""Read a plain UPDATE or DELETE from its tokens, without loading sqlglot.

Most DML in migrations is one of a few shapes (``UPDATE t SET ... WHERE c IS
NULL``, ``DELETE FROM t WHERE id BETWEEN :lo AND :hi``). This reader answers
for those and gives the same ``WriteRows`` that sqlglot's tree gives
(``tree_actions``), judged by the same rules as ``bounded``. Whatever it is not
sure of (``WITH``, ``ONLY``, an ``OR``, a parenthesised condition, ``ANY``, a
subquery in ``IN``, a typed literal) answers None, and the statement goes to
sqlglot as before. ``tests/lint/test_dml_tokens.py`` holds the two readers to
the same answers.
"""

from __future__ import annotations

import re

from expandctl.lint import actions as a
from expandctl.lint.tokens import NUMBER, PUNCT, QUOTED, STRING, WORD, Tok

_KEY_SUFFIX = "_id"
_RANGE_OPS = {"<": "upper", "<=": "upper", ">": "lower", ">=": "lower"}
_FLIP = {"lower": "upper", "upper": "lower"}
_COMPARISONS = frozenset({"=", *_RANGE_OPS})
# Words sqlglot reads as something other than a column (a constant, a function
# without parentheses, an operator or a clause); a term naming one is left to it.
_NOT_COLUMNS = frozenset(
    {
        "NULL", "TRUE", "FALSE", "NOT", "EXISTS", "CASE", "CAST", "ANY", "SOME", "ALL",
        "ARRAY", "ROW", "INTERVAL", "DATE", "TIME", "TIMESTAMP", "USER", "CURRENT_USER",
        "SESSION_USER", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME",
        "LOCALTIMESTAMP", "CURRENT_SCHEMA", "CURRENT_CATALOG", "CURRENT_ROLE", "DEFAULT",
        "CURRENT", "OF", "IS", "IN", "BETWEEN", "LIKE", "ILIKE", "SIMILAR", "AND", "OR",
        "COLLATE", "AT", "ESCAPE", "SYMMETRIC", "ASYMMETRIC", "DISTINCT", "RETURNING",
    }
)  # fmt: skip
# E'..', B'..', X'..', U&'..' and dollar quotes: sqlglot reads some as no literal.
_SPECIAL_LITERAL = re.compile(r"(?i)(?<![\w$'])(?:[bxe]|u&)'|\$\w*\$")
# Words that continue a type name after its first: double precision, character
# varying, timestamp with(out) time zone.
_TYPE_WORDS = frozenset({"PRECISION", "VARYING", "WITH", "WITHOUT", "TIME", "ZONE"})
# Clauses that end the table name of the statement.
_AFTER_TABLE = frozenset({"SET", "WHERE", "USING", "RETURNING", "AS", "FROM"})


def read_write(sql: str, toks: list[Tok]) -> a.WriteRows | None:
    """The statement's one write, or None when sqlglot must read it."""
    if _SPECIAL_LITERAL.search(sql):
        return None  # the tokens do not keep which kind of string it was
    verb = toks[0].word
    i = 1
    if verb == "DELETE":
        if len(toks) < 2 or toks[1].word != "FROM":
            return None
        i = 2
    elif verb != "UPDATE":
        return None
    table, i = _table(toks, i)
    if table is None:
        return None
    where = _where(toks, i)
    if where is None:
        return a.WriteRows(table=table, verb=verb, where=False, trivial_where=False, bounded=False)
    if not where:
        return None  # WHERE with nothing after it: let the parser say what it makes of it
    terms = _terms(where)
    if terms is None:
        return None
    trivial = _trivial(where)
    bounded = _bounded(terms)
    if bounded is None:
        return None
    return a.WriteRows(table=table, verb=verb, where=True, trivial_where=trivial, bounded=bounded)


def _table(toks: list[Tok], i: int) -> tuple[str | None, int]:
    """``name`` or ``schema.name`` (sqlglot's spelling: quoted parts without quotes)."""
    parts: list[str] = []
    while i < len(toks):
        tok = toks[i]
        if tok.kind == QUOTED:
            parts.append(tok.text)
        elif tok.kind == WORD and tok.word not in _AFTER_TABLE and tok.word != "ONLY":
            parts.append(tok.text.lower())
        else:
            break
        i += 1
        if not _is(toks, i, "."):
            break
        i += 1
    if not parts or len(parts) > 2 or (i < len(toks) and toks[i].text == "*"):
        return None, i
    return ".".join(parts), i


def _where(toks: list[Tok], i: int) -> list[Tok] | None:
    """The condition's tokens (up to RETURNING), or None when there is no WHERE."""
    depth = 0
    start = None
    for j in range(i, len(toks)):
        tok = toks[j]
        if tok.kind == PUNCT:
            depth += tok.text in ("(", "[")
            depth -= tok.text in (")", "]")
        elif depth == 0 and tok.kind == WORD:
            if tok.word == "WHERE":
                if start is not None:
                    return []  # a second top-level WHERE: not a shape this reader knows
                start = j + 1
            elif tok.word == "RETURNING" and start is not None:
                return toks[start:j]
    return toks[start:] if start is not None else None


def _terms(where: list[Tok]) -> list[list[Tok]] | None:
    """The condition split at its top-level ANDs; None for an OR or a parenthesised term."""
    terms: list[list[Tok]] = [[]]
    depth = 0
    between = False
    for tok in where:
        if tok.kind == PUNCT:
            depth += tok.text in ("(", "[")
            depth -= tok.text in (")", "]")
        elif depth == 0 and tok.kind == WORD:
            if tok.word == "OR" or tok.word == "CURRENT":
                return None
            if tok.word == "BETWEEN":
                between = True
            elif tok.word == "AND":
                if between:
                    between = False  # BETWEEN low AND high: this AND is the term's own
                else:
                    terms.append([])
                    continue
        terms[-1].append(tok)
    if any(not term or term[0].text == "(" for term in terms):
        return None
    return terms


def _trivial(where: list[Tok]) -> bool:
    """``WHERE true`` and ``WHERE <literal> = <the same literal>``."""
    if len(where) == 1:
        return where[0].kind == WORD and where[0].word == "TRUE"
    if len(where) == 3 and _is(where, 1, "="):
        left, right = where[0], where[2]
        return left.kind in (NUMBER, STRING) and left == right
    return False


def _bounded(terms: list[list[Tok]]) -> bool | None:
    """``bounded._bounded_conjunction`` on tokens; None where it cannot be sure."""
    ranges: dict[str, set[str]] = {}
    for term in terms:
        judged = _judge(term)
        if judged is None:
            return None
        if judged is _SMALL_SET:
            return True
        if judged is not _NO_BOUND:
            name, side = judged
            if name in ("id", "ctid") or name.endswith(_KEY_SUFFIX):
                return True  # a one-sided bound on a key is a batch
            ranges.setdefault(name, set()).add(side)
    return any(len(sides) == 2 for sides in ranges.values())


# What one term of the condition does: limits the rows to a small set, bounds a
# column on one side ((column, "lower" | "upper")), or neither.
_SMALL_SET = ("", "small set")
_NO_BOUND = ("", "")
_Judged = tuple[str, str]


def _judge(term: list[Tok]) -> _Judged | None:
    column = _column(term)
    if column is not None:
        name, i = column
        return _column_first(name, term[i:])
    if _column_like(term):
        return None  # a name sqlglot may read otherwise, or a function call
    return _constant_first(term)


def _column_first(name: str, rest: list[Tok]) -> _Judged | None:
    """``col = c``, ``col < c``, ``col BETWEEN c AND c``, ``col IN (c, ...)``, ``col IS NULL``..."""
    if not rest:
        return _NO_BOUND  # a boolean column alone
    op, operand = rest[0], rest[1:]
    if op.kind == WORD and op.word in ("BETWEEN", "IN"):
        small = _between(operand) if op.word == "BETWEEN" else _in_list(operand)
        return None if small is None else (_SMALL_SET if small else _NO_BOUND)
    if op.kind == WORD and op.word in ("IS", "LIKE", "ILIKE", "NOT"):
        if any(t.kind == PUNCT and t.text in ("(", "[") for t in operand):
            return None  # NOT IN (SELECT ...), IS DISTINCT FROM f(...): the parser's
        return _NO_BOUND
    if op.kind == PUNCT and op.text in ("<>", "!="):
        return _NO_BOUND
    if op.kind != PUNCT or op.text not in _COMPARISONS:
        return None
    constant = _constant(operand)
    if constant is None:
        return None
    if not constant:
        return _NO_BOUND  # col = f(), col < now(): no bound
    return _SMALL_SET if op.text == "=" else (name, _RANGE_OPS[op.text])


def _constant_first(term: list[Tok]) -> _Judged | None:
    """``c < col``: a bound on col's other side; a term of constants bounds nothing."""
    for i, tok in enumerate(term):
        if tok.kind != PUNCT or tok.text not in _COMPARISONS or i == 0:
            continue
        constant = _constant(term[:i])
        if constant is None:
            return None
        column = _column(term[i + 1 :])
        if not constant or (column is None and not _column_like(term[i + 1 :])):
            return _NO_BOUND  # constant = constant, f() < col ...: no bound of a column
        if column is None or column[1] != len(term) - i - 1 or tok.text == "=":
            return None  # c = col is a small set: let the parser confirm it
        return column[0], _FLIP[_RANGE_OPS[tok.text]]
    return _NO_BOUND


def _column(term: list[Tok]) -> tuple[str, int] | None:
    """A leading column reference (``c``, ``t.c``, ``s.t.c``): its name and where it ends."""
    i = 0
    name = ""
    while i < len(term):
        tok = term[i]
        if tok.kind == QUOTED or (tok.kind == WORD and tok.word not in _NOT_COLUMNS):
            name = tok.text.lower()
        else:
            return None
        i += 1
        if i < len(term) and term[i].text == "(":
            return None  # a function call
        if not _is(term, i, "."):
            return name, i
        i += 1
    return None


def _column_like(term: list[Tok]) -> bool:
    """Starts with a word this reader does not take for a plain column."""
    return bool(term) and term[0].kind in (WORD, QUOTED)


def _between(rest: list[Tok]) -> bool | None:
    """``BETWEEN <constant> AND <constant>``."""
    for i, tok in enumerate(rest):
        if tok.kind == WORD and tok.word == "AND":
            low, high = _constant(rest[:i]), _constant(rest[i + 1 :])
            if low is None or high is None:
                return None
            return low and high
    return None


def _in_list(rest: list[Tok]) -> bool | None:
    """``IN (<constant>, ...)``; a subquery is the parser's."""
    if len(rest) < 3 or rest[0].text != "(" or rest[-1].text != ")":
        return None
    if rest[1].kind == WORD and rest[1].word in ("SELECT", "WITH", "VALUES", "TABLE"):
        return None
    values: list[list[Tok]] = [[]]
    for tok in rest[1:-1]:
        if tok.kind == PUNCT and tok.text == ",":
            values.append([])
        elif tok.kind == PUNCT and tok.text in ("(", ")", "[", "]"):
            return None
        else:
            values[-1].append(tok)
    answers = [_constant(value) for value in values]
    if any(answer is None for answer in answers):
        return None
    return all(answers)


def _constant(toks: list[Tok]) -> bool | None:
    """A literal, a bind parameter or a cast of one (``bounded._constant``): True;
    an expression that is surely not one: False; None when unsure."""
    if not toks:
        return None
    i = 0
    first = toks[0]
    if first.kind == PUNCT and first.text == "-":
        i = 1
        if len(toks) < 2 or toks[1].kind != NUMBER:
            return None
    elif first.kind == PUNCT and first.text == "+":
        return None
    end = _literal_end(toks, i)
    if end is None:
        if first.kind in (WORD, QUOTED) and not (first.kind == WORD and first.word in _NOT_COLUMNS):
            return _not_constant_expression(toks)
        return None
    if end == len(toks):
        return True
    if _is(toks, end, "::"):
        return True if _type_to_end(toks, end + 1) else None
    return _not_constant_expression(toks[end:], after_literal=True)


def _literal_end(toks: list[Tok], i: int) -> int | None:
    """Where the literal or bind parameter starting at ``i`` ends, or None."""
    tok = toks[i]
    if tok.kind in (NUMBER, STRING):
        return i + 1
    if tok.kind == WORD and tok.word in ("TRUE", "FALSE"):
        return i + 1
    if tok.kind == PUNCT and tok.text[:1] == "$" and tok.text[1:].isdigit():
        return i + 1  # $1
    if tok.kind == PUNCT and tok.text == "?":
        return i + 1
    if tok.kind == PUNCT and tok.text == ":" and i + 1 < len(toks) and toks[i + 1].kind == WORD:
        return i + 2  # :name (psql's variables)
    return None


def _type_to_end(toks: list[Tok], i: int) -> bool:
    """``int``, ``bigint[]``, ``varchar(10)``, ``double precision``: a type name and
    nothing after it. Only the words of multi-word types may follow the first: in
    ``'x'::text IS NOT TRUE`` the cast ends at ``text``, and the term is no constant."""
    if i >= len(toks) or toks[i].kind != WORD:
        return False
    i += 1
    while i < len(toks) and toks[i].kind == WORD and toks[i].word in _TYPE_WORDS:
        i += 1
    if _is(toks, i, "(") and i + 2 < len(toks) and toks[i + 1].kind == NUMBER:
        if not _is(toks, i + 2, ")"):
            return False
        i += 3
    while _is(toks, i, "[") and _is(toks, i + 1, "]"):
        i += 2
    return i == len(toks)


def _not_constant_expression(toks: list[Tok], *, after_literal: bool = False) -> bool | None:
    """False for what sqlglot surely reads as no constant (a column, a function call,
    arithmetic on a literal); None for forms it may fold into one."""
    if after_literal:
        op = toks[0]
        if op.kind == PUNCT and op.text in ("+", "-", "*", "/", "%", "||"):
            return False
        return None
    if len(toks) >= 2 and toks[1].kind == STRING:
        return None  # a typed literal: date '2024-01-01'
    return False


def _is(toks: list[Tok], i: int, text: str) -> bool:
    return i < len(toks) and toks[i].kind == PUNCT and toks[i].text == text
