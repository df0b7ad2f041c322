"""Tell a DO block that only checks the system catalog from one that does real work.

The declarative operations open expand with their preconditions as DO blocks
(``model.ops.checks``): ``IF <a SELECT over pg_catalog> THEN RAISE ...``. Such
a block reads no row of any user table and waits for no lock, so it is instant
even while the transaction holds a strong lock. The reader accepts only that
shape: ``BEGIN``, then ``IF`` / ``ELSIF`` / ``ELSE`` / ``END IF``, ``RAISE`` without
expressions, ``NULL``, then ``END``; each condition a query of system catalogs
through functions known to be plain look-ups. Anything else (DECLARE,
assignments, PERFORM, EXECUTE, loops, a user table, any other function call)
and the block is not a catalog check: the rules keep treating it as possibly
slow.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from expandctl.lint import actions as a
from expandctl.lint.bounded import writes_bounded
from expandctl.lint.glot import DIALECT
from expandctl.lint.tokens import STRING, WORD, Tok

# Reads one statement of a DO body like a top-level one (``source.read_actions``):
# passed in, because the reader of statements is the one that calls this module.
NestedReader = Callable[[str], list[a.Action]]

_TOKENIZER = DIALECT.tokenizer()
_CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
# Written without a schema these still resolve to pg_catalog, which PostgreSQL
# searches before the search_path unless the path names it explicitly.
_CATALOG_TABLES = frozenset(
    {
        "pg_class", "pg_attribute", "pg_attrdef", "pg_constraint", "pg_index", "pg_namespace",
        "pg_type", "pg_enum", "pg_proc", "pg_trigger", "pg_depend", "pg_inherits",
        "pg_extension", "pg_sequence", "pg_indexes", "pg_tables", "pg_views", "pg_matviews",
        "pg_sequences", "pg_roles",
    }
)  # fmt: skip
# Look-ups by name that read the catalog and nothing else (no lock, no side effect).
_LOOKUP_FUNCTIONS = frozenset(
    {
        "to_regclass", "to_regtype", "to_regproc", "to_regprocedure", "to_regoper",
        "to_regoperator", "to_regnamespace", "to_regrole", "to_regcollation", "format_type",
        "pg_get_constraintdef", "pg_get_indexdef", "pg_get_expr", "current_schema",
        "current_schemas", "quote_ident",
    }
)  # fmt: skip
# sqlglot's own nodes for operators and pure built-ins the checks use.
_PURE_NODES = (
    exp.Connector, exp.Coalesce, exp.Exists, exp.Count, exp.Lower, exp.Upper, exp.Cast,
    exp.Array, exp.Bracket, exp.CurrentSchema,
)  # fmt: skip
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Command, exp.Into, exp.Lock)


def is_catalog_check(toks: list[Tok]) -> bool:
    """True for ``DO [LANGUAGE plpgsql] '<body>'`` whose body only checks the catalog."""
    words = [t.word for t in toks if t.kind == WORD]
    bodies = [t.text for t in toks if t.kind == STRING]
    if len(bodies) != 1 or words not in (["DO"], ["DO", "LANGUAGE", "PLPGSQL"]):
        return False
    try:
        raw = _TOKENIZER.tokenize(bodies[0])
    except TokenError:
        return False
    return _Body(bodies[0], raw).is_catalog_check()


class _Body:
    """A small reader over the body's tokens; any form it does not know answers False."""

    def __init__(self, text: str, raw: list[Token]) -> None:
        self.text = text
        self.raw = raw
        self.i = 0

    def word(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.raw[j].text.upper() if j < len(self.raw) else ""

    def accept(self, *words: str) -> bool:
        if all(self.word(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def is_catalog_check(self) -> bool:
        if not self.accept("BEGIN") or not self.statements({"END"}) or not self.accept("END"):
            return False
        self.accept(";")
        return self.i == len(self.raw)

    def statements(self, until: set[str]) -> bool:
        while self.i < len(self.raw) and self.word() not in until:
            if not self.statement():
                return False
        return self.i < len(self.raw)

    def statement(self) -> bool:
        if self.accept("IF"):
            return self.if_rest()
        if self.accept("RAISE"):
            return self.raise_rest()
        return self.accept("NULL", ";")

    def if_rest(self) -> bool:
        while True:
            if not self.condition() or not self.statements({"ELSIF", "ELSEIF", "ELSE", "END"}):
                return False
            if not (self.accept("ELSIF") or self.accept("ELSEIF")):
                break
        if self.accept("ELSE") and not self.statements({"END"}):
            return False
        return self.accept("END", "IF", ";")

    def condition(self) -> bool:
        """The tokens up to THEN, read as a query: catalog tables and look-ups only."""
        start, depth = self.i, 0
        while self.i < len(self.raw):
            token = self.raw[self.i]
            depth += token.token_type is TokenType.L_PAREN
            depth -= token.token_type is TokenType.R_PAREN
            if depth == 0 and token.text.upper() == "THEN":
                break
            self.i += 1
        if self.i == start or self.i == len(self.raw):
            return False
        text = self.text[self.raw[start].start : self.raw[self.i - 1].end + 1]
        self.i += 1  # THEN
        return reads_only_catalog(text)

    def raise_rest(self) -> bool:
        """RAISE with literals only: no parenthesis, so no call and no subquery."""
        while self.i < len(self.raw) and self.raw[self.i].token_type is not TokenType.SEMICOLON:
            if self.raw[self.i].token_type in (TokenType.L_PAREN, TokenType.R_PAREN):
                return False
            self.i += 1
        return self.accept(";")


def reads_only_catalog(expression: str) -> bool:
    """True when ``SELECT <expression>`` reads system catalogs through plain look-ups only."""
    try:
        tree = DIALECT.parse(f"SELECT {expression}")[0]
    except (ParseError, TokenError):
        return False
    if not isinstance(tree, exp.Select):
        return False
    for node in tree.walk():
        if isinstance(node, _WRITES):
            return False
        if isinstance(node, exp.Table) and not _is_catalog_table(node):
            return False
        if isinstance(node, exp.Func) and not _is_lookup(node):
            return False
    return True


def _is_catalog_table(table: exp.Table) -> bool:
    if not isinstance(table.this, exp.Identifier):
        return False  # a function in FROM
    if table.args.get("catalog") is not None:
        return False
    schema = table.args.get("db")
    if schema is not None:
        return isinstance(schema, exp.Identifier) and schema.name.lower() in _CATALOG_SCHEMAS
    return table.name.lower() in _CATALOG_TABLES


def _is_lookup(node: exp.Func) -> bool:
    if isinstance(node, exp.Anonymous):
        return node.name.lower() in _LOOKUP_FUNCTIONS
    return isinstance(node, _PURE_NODES)


# --- reading a DO block's statements ----------------------------------------

_LABEL = re.compile(r"^<<\s*\w+\s*>>\s*")
_OPENERS = re.compile(r"^(?:BEGIN|ELSE|LOOP|DECLARE)\b\s*", re.IGNORECASE)
# Heads that end with THEN / LOOP: the text between is an expression or query.
_CONDITION_HEADS = re.compile(
    r"^(?:IF|ELSIF|ELSEIF|WHILE|FOR|FOREACH|EXCEPTION\s+WHEN|WHEN)\b", re.IGNORECASE
)
_NO_EFFECT = re.compile(
    r"^(?:END(?:\s+(?:IF|LOOP|CASE))?(?:\s+\w+)?|NULL|RETURN\b.*|EXIT\b.*|CONTINUE\b.*"
    r"|GET\s+(?:CURRENT\s+|STACKED\s+)?DIAGNOSTICS\b.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ASSIGNMENT = re.compile(
    r"^[A-Za-z_][\w$]*(?:\.[\w$]+)*(?:\[[^\]]*\])?\s*:?=(?P<expr>.*)$", re.DOTALL
)
_STRING_LITERAL = re.compile(r"^[Ee]?'(?P<body>(?:[^']|'')*)'$", re.DOTALL)
_DOLLAR_LITERAL = re.compile(r"^\$(?P<tag>\w*)\$(?P<body>.*)\$(?P=tag)\$$", re.DOTALL)


def read_do_block(toks: list[Tok], read_nested: NestedReader) -> list[a.Action] | None:
    """The actions of the statements a plpgsql DO block runs, or None if it is not readable.

    Static SQL statements in the body (whatever IF or loop guards them: the
    linter assumes they run) and ``EXECUTE '<literal>'`` are read like
    top-level statements; an ``EXECUTE`` of a computed string stays a
    ``Dynamic`` action. Conditions, loops over queries, PERFORM and
    assignments evaluate expressions that may read user tables: unless they
    read only the catalog, they add a ``Harmless("DO")`` (a statement that is
    not instant). None when the language is not plpgsql, the body cannot be
    split, or it runs no statement at all (a check: IF ... THEN RAISE).
    """
    words = [t.word for t in toks if t.kind == WORD]
    bodies = [t.text for t in toks if t.kind == STRING]
    if len(bodies) != 1 or words not in (["DO"], ["DO", "LANGUAGE", "PLPGSQL"]):
        return None
    return _Reader(read_nested).read(bodies[0])


class _Reader:
    def __init__(self, read_nested: NestedReader) -> None:
        self.read_nested = read_nested
        self.actions: list[a.Action] = []
        self.evaluates = False  # runs expressions that may read rows

    def read(self, body: str) -> list[a.Action] | None:
        from expandctl.model.sql_split import split_statements

        pieces: list[str] | None = [s.text for s in split_statements(body)]
        if pieces and re.match(r"^DECLARE\b", pieces[0], re.IGNORECASE):
            pieces = _after_declarations(pieces)
        if pieces is None:
            return None
        for piece in pieces:
            self.piece(piece.strip())
        if not self.actions:
            return None  # conditions and RAISE only: a check, judged as before (U502)
        if self.evaluates:
            self.actions.insert(0, a.Harmless(what="DO"))
        return self.actions

    def piece(self, text: str) -> None:
        while text:
            stripped = _LABEL.sub("", text)
            stripped = _OPENERS.sub("", stripped)
            if _CONDITION_HEADS.match(stripped):
                head, rest = _split_head(stripped)
                if head is None:
                    self.actions.append(a.Dynamic(what="a DO block statement it cannot read"))
                    return
                self.condition(head)
                stripped = rest
            if stripped == text:
                break
            text = stripped.strip()
        if not text or _NO_EFFECT.match(text):
            return
        word = text.split(None, 1)[0].upper()
        if word == "RAISE":
            if "(" in text:
                self.evaluates = True  # RAISE ... USING / %-arguments with subqueries
            return
        if word == "PERFORM":
            self.statement("SELECT " + text[len("PERFORM") :])
            return
        if word == "EXECUTE":
            self.execute(text[len("EXECUTE") :].strip())
            return
        if word in ("COMMIT", "ROLLBACK", "CASE", "OPEN", "FETCH", "MOVE", "CLOSE"):
            self.actions.append(a.Dynamic(what=f"{word} in a DO block"))
            return
        assignment = _ASSIGNMENT.match(text)
        if assignment is not None and word not in _SQL_FIRST_WORDS:
            self.condition(assignment.group("expr"))
            return
        self.statement(text)

    def condition(self, expression: str) -> None:
        if expression.strip() and not reads_only_catalog(expression):
            self.evaluates = True

    def execute(self, rest: str) -> None:
        literal = _literal(rest)
        if literal is None:
            self.actions.append(a.Dynamic(what="EXECUTE of a computed string in a DO block"))
            return
        self.statement(literal)

    def statement(self, sql: str) -> None:
        found = self.read_nested(sql)
        for action in found:
            if isinstance(action, a.Unknown):
                self.actions.append(a.Dynamic(what="a DO block statement it cannot read"))
                continue
            if isinstance(action, a.Harmless) and action.what == "INSERT":
                self.evaluates = True  # may be INSERT ... SELECT: not instant
            self.actions.append(action)
        writes = [x for x in found if isinstance(x, a.WriteRows)]
        if writes:
            answers = writes_bounded(sql)
            if answers is not None and len(answers) == len(writes):
                for action, bounded in zip(writes, answers, strict=True):
                    action.bounded = bounded


_SQL_FIRST_WORDS = frozenset({"UPDATE", "DELETE", "INSERT", "SELECT", "WITH", "ALTER", "CREATE"})


def _after_declarations(pieces: list[str]) -> list[str] | None:
    for at, piece in enumerate(pieces):
        match = re.search(r"\bBEGIN\b", piece, re.IGNORECASE)
        if match is not None:
            return [piece[match.end() :], *pieces[at + 1 :]]
    return None


def _split_head(text: str) -> tuple[str | None, str]:
    """``IF <cond> THEN rest`` -> (cond, rest); FOR / WHILE end at LOOP. Top level only."""
    first = text.split(None, 1)[0].upper()
    end_word = "LOOP" if first in ("WHILE", "FOR", "FOREACH") else "THEN"
    depth, i, quote = 0, 0, False
    upper = text.upper()
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        elif (
            not quote
            and depth == 0
            and upper.startswith(end_word, i)
            and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))
            and not (text[i + len(end_word) : i + len(end_word) + 1].isalnum())
        ):
            head = text[len(first) : i]
            if first == "EXCEPTION":
                head = ""
            elif first in ("FOR", "FOREACH"):
                m = re.search(r"\bIN\b(?:\s+ARRAY\b)?(?P<q>.*)$", head, re.IGNORECASE | re.DOTALL)
                head = m.group("q") if m is not None else head
                if re.search(r"^\s*REVERSE\b|\.\.", head):
                    head = ""  # an integer range loop
                elif re.match(r"^\s*EXECUTE\b", head, re.IGNORECASE):
                    return None, ""
            elif first == "WHEN":
                head = ""
            return head, text[i + len(end_word) :]
        i += 1
    return None, ""


def _literal(text: str) -> str | None:
    """The SQL in ``'...'`` / ``$$...$$`` (ignoring INTO / USING after it), or None."""
    text = re.split(r"\s+(?:INTO|USING)\s", text, maxsplit=1, flags=re.IGNORECASE)[0].strip()
    if (match := _STRING_LITERAL.match(text)) is not None:
        return match.group("body").replace("''", "'")
    if (match := _DOLLAR_LITERAL.match(text)) is not None:
        return match.group("body")
    return None
