"""A statement's tokens, reduced to what the rules need, and a cursor to walk them.

The tokens come from PostgreSQL's own scanner (libpg_query, via pglast), so
strings, dollar quotes, quoted names and comments are read exactly as the
server reads them, and sqlglot (the analysis parser, ``glot``) is loaded only
for the statements that need a tree. Comments and string literals are never
words, so a keyword inside either can never look like a statement.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from expandctl.lint.literals import string_value, unicode_unescape
from expandctl.lint.pg_parser import ParseError, scan

WORD, QUOTED, STRING, NUMBER, PUNCT = range(5)
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")
_SKIPPED = frozenset({"SQL_COMMENT", "C_COMMENT"})
# Scanner token names -> our kinds, for those that are not words or punctuation.
_KINDS = {
    "SCONST": STRING,
    "USCONST": STRING,
    "BCONST": STRING,
    "XCONST": STRING,
    "ICONST": NUMBER,
    "FCONST": NUMBER,
}


class Tok(NamedTuple):
    word: str  # upper-cased for words; "" for strings, numbers and punctuation
    text: str  # as written; quoted identifiers without their quotes
    kind: int  # WORD, QUOTED, STRING, NUMBER or PUNCT

    @property
    def name(self) -> str:
        """An identifier as PostgreSQL folds it, spelled so it can be pasted back into SQL.

        Unquoted names are lower-cased; quoted ones keep their quotes unless they
        would fold to themselves (``"users"`` is just ``users``).
        """
        if self.kind != QUOTED:
            return self.text.lower()
        if _PLAIN_NAME.fullmatch(self.text):
            return self.text
        return '"' + self.text.replace('"', '""') + '"'


# Tok(...) without the generated __new__'s Python frame: a statement has dozens of tokens.
_tok = tuple.__new__

# (scanner's token name, text) -> our token. Migrations repeat a few hundred
# keywords, names and literals; looking them up is five times cheaper than
# building them again. Bounded: a huge file of distinct literals clears it.
_CONVERTED: dict[tuple[str, str], Tok] = {}
_CONVERTED_MAX = 50_000


def _convert(name: str, kind: str, text: str) -> Tok:
    if name == "IDENT":
        if text[:1] == '"':
            return _tok(Tok, ("", text[1:-1].replace('""', '"'), QUOTED))
        return _tok(Tok, (text.upper(), text, WORD))
    if name == "UIDENT":  # U&"d\0061ta" (a UESCAPE clause after it is not read)
        return _tok(Tok, ("", unicode_unescape(text[3:-1].replace('""', '"')), QUOTED))
    if kind != "NO_KEYWORD":
        return _tok(Tok, (text.upper(), text, WORD))
    found = _KINDS.get(name)
    if found == STRING:
        return _tok(Tok, ("", string_value(text), STRING))
    if found is not None:
        return _tok(Tok, ("", text, found))
    return _tok(Tok, ("", text, PUNCT))


def tokenize(sql: str) -> list[Tok] | None:
    """The statement's tokens, comments left out; None when PostgreSQL's scanner
    rejects the text (an unterminated string, quoted name or comment)."""
    try:
        scanned = scan(sql)
    except (ParseError, UnicodeEncodeError):  # a lone surrogate is no UTF-8
        return None
    converted = _CONVERTED
    if len(converted) > _CONVERTED_MAX:
        converted.clear()
    toks: list[Tok] = []
    append = toks.append
    for token in scanned:
        name = token.name
        if name in _SKIPPED:
            continue
        text = sql[token.start : token.end + 1]  # pglast's offsets count characters
        key = (name, text)
        found = converted.get(key)
        if found is None:
            found = converted[key] = _convert(name, token.kind, text)
        append(found)
    return toks


def nesting_depth(toks: list[Tok], opening: str = "([", closing: str = ")]") -> int:
    """The deepest nesting of the given brackets, counted without recursion."""
    depth = deepest = 0
    for tok in toks:
        if tok.kind == PUNCT:
            if tok.text in opening:
                depth += 1
                deepest = max(deepest, depth)
            elif tok.text in closing:
                depth -= 1
    return deepest


class Cursor:
    """A position in a statement's tokens with small look-ahead helpers."""

    __slots__ = ("i", "toks")

    def __init__(self, toks: list[Tok], i: int = 0) -> None:
        self.toks = toks
        self.i = i

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def peek(self, ahead: int = 0) -> Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def word(self, ahead: int = 0) -> str:
        tok = self.peek(ahead)
        return tok.word if tok is not None else ""

    def at(self, *words: str) -> bool:
        return all(self.word(k) == w for k, w in enumerate(words))

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def skip_optional(self, *phrases: tuple[str, ...]) -> None:
        for phrase in phrases:
            self.accept(*phrase)

    def punct(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == PUNCT and tok.text == text:
            self.i += 1
            return True
        return False

    def name(self) -> str:
        """A possibly qualified name (``schema.table``), or "" when none follows."""
        parts: list[str] = []
        while True:
            tok = self.peek()
            if tok is None or tok.kind not in (WORD, QUOTED):
                break
            parts.append(tok.name)
            self.i += 1
            if not self.punct("."):
                break
        return ".".join(parts)

    def skip_group(self) -> None:
        """Skip a balanced ``( ... )`` if one starts here."""
        if not self.punct("("):
            return
        depth = 1
        while not self.done() and depth:
            tok = self.toks[self.i]
            if tok.kind == PUNCT:
                depth += tok.text == "("
                depth -= tok.text == ")"
            self.i += 1

    def rest(self) -> list[Tok]:
        return self.toks[self.i :]


def split_top_level(toks: list[Tok], separator: str = ",") -> list[list[Tok]]:
    """Split at separators that are not inside parentheses or brackets."""
    parts: list[list[Tok]] = [[]]
    depth = 0
    for tok in toks:
        if tok.kind == PUNCT:
            if tok.text in "([":
                depth += 1
            elif tok.text in ")]":
                depth -= 1
            elif tok.text == separator and depth == 0:
                parts.append([])
                continue
        parts[-1].append(tok)
    return [p for p in parts if p]


def inner_group(toks: list[Tok], start: int) -> tuple[list[Tok], int]:
    """Tokens between the ``(`` at ``start`` and its match, and the index after it."""
    depth = 0
    for j in range(start, len(toks)):
        tok = toks[j]
        if tok.kind == PUNCT and tok.text == "(":
            depth += 1
        elif tok.kind == PUNCT and tok.text == ")":
            depth -= 1
            if depth == 0:
                return toks[start + 1 : j], j + 1
    return toks[start + 1 :], len(toks)


def render(toks: list[Tok]) -> str:
    """Tokens back to compact SQL, for messages (``varchar(10)``, ``now()``)."""
    out: list[str] = []
    for tok in toks:
        text = f"'{tok.text}'" if tok.kind == STRING else tok.text
        if tok.kind == QUOTED:
            text = f'"{tok.text}"'
        glue = (
            not out
            or text in (")", ",", ".", "::", "]")
            or out[-1].endswith(("(", ".", "::", "["))
            or (text in ("(", "[") and out[-1][-1:].isalnum())
        )
        if text == ",":
            out.append(",")
        elif glue:
            out.append(text)
        else:
            out.append(" " + text)
    return "".join(out).strip()
