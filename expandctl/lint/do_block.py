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

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from expandctl.lint.tokens import DIALECT, STRING, WORD, Tok

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
