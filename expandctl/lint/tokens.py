"""sqlglot's tokens reduced to what the rules need, and a cursor to walk them.

Comments and string literals are never words, so a keyword inside either can
never look like a statement. Tokenising once per statement is cheap (sqlglot's
compiled tokenizer); the same tokens feed the parser when a parse is needed.
"""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

# sqlglot logs a warning for every statement it keeps as an opaque Command;
# the linter reports those itself, so the log line would only be noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

DIALECT = Dialect.get_or_raise("postgres")
# One tokenizer for every statement: building one per call costs more than tokenising.
_TOKENIZER = DIALECT.tokenizer()
_COMMANDS = frozenset(DIALECT.tokenizer_class.COMMANDS)

WORD, QUOTED, STRING, NUMBER, PUNCT = range(5)
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")

_STRING_TYPES = frozenset(
    {
        TokenType.STRING,
        TokenType.NATIONAL_STRING,
        TokenType.RAW_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.BYTE_STRING,
        TokenType.UNICODE_STRING,
    }
)


# A token type -> its kind, for the types that are not words or punctuation.
_KINDS: dict[Any, int] = {
    **dict.fromkeys(_STRING_TYPES, STRING),
    TokenType.IDENTIFIER: QUOTED,
    TokenType.NUMBER: NUMBER,
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

# (sqlglot's token type, text) -> our tokens. Migrations repeat a few hundred
# keywords, names and literals; looking them up is five times cheaper than
# building them again. Bounded: a huge file of distinct literals clears it.
_CONVERTED: dict[tuple[Any, str], tuple[Tok, ...]] = {}
_CONVERTED_MAX = 50_000


def _convert(token_type: Any, text: str) -> tuple[Tok, ...]:
    kind = _KINDS.get(token_type)
    if kind is not None:
        return (_tok(Tok, ("", text, kind)),)
    if text[:1].isalpha() or text[:1] == "_":
        # multi-word keywords ("PRIMARY KEY", "DOUBLE PRECISION") become single words
        return tuple(_tok(Tok, (part.upper(), part, WORD)) for part in text.split())
    return (_tok(Tok, ("", text, PUNCT)),)


def tokenize(sql: str) -> tuple[list[Token], list[Tok]] | None:
    """sqlglot's raw tokens and our reduced ones; None when the text cannot be tokenised."""
    try:
        raw = _TOKENIZER.tokenize(sql)
        # sqlglot keeps the rest of a "command" (VACUUM, LOCK, DO ...) as one
        # string token; the rules need its words, so read that rest again.
        rest = raw[1:]
        if raw and raw[0].token_type in _COMMANDS and len(raw) == 2:
            rest = _TOKENIZER.tokenize(sql[raw[0].end + 1 :])
    except TokenError:
        return None
    toks: list[Tok] = []
    extend = toks.extend
    converted = _CONVERTED
    if len(converted) > _CONVERTED_MAX:
        converted.clear()
    for token in raw[:1] + rest:
        key = (token.token_type, token.text)
        found = converted.get(key)
        if found is None:
            found = converted[key] = _convert(*key)
        extend(found)
    return raw, toks


def parse_tokens(raw: list[Token], sql: str) -> Any:
    """Parse already-tokenised SQL with sqlglot (raises sqlglot's ParseError);
    None when there is nothing to parse (sqlglot returns no tree for ``ELSE 1``)."""
    trees = DIALECT.parser().parse(raw, sql)
    return trees[0] if trees else None


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
