"""The values of PostgreSQL's string constants and Unicode-escaped names, as the
server reads them (the scanner returns them as written)."""

from __future__ import annotations

import re

# One quoted piece of a (possibly continued: 'a' <newline> 'b') string constant;
# in an escape string a backslash escapes the next character, a quote included.
_PIECES = re.compile(r"'((?:[^']|'')*)'")
_ESCAPE_PIECES = re.compile(r"'((?:[^'\\]|''|\\.)*)'", re.DOTALL)
_BACKSLASH = re.compile(
    r"\\(?:(?P<octal>[0-7]{1,3})|x(?P<hex>[0-9A-Fa-f]{1,2})|u(?P<u4>[0-9A-Fa-f]{4})"
    r"|U(?P<u8>[0-9A-Fa-f]{8})|(?P<char>.))",
    re.DOTALL,
)
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# U&'...' and U&"...": \XXXX, \+XXXXXX and \\ (the default escape character).
_UNICODE = re.compile(r"\\(?:(?P<u4>[0-9A-Fa-f]{4})|\+(?P<u6>[0-9A-Fa-f]{6})|(?P<same>\\))")


def string_value(literal: str) -> str:
    """``'it''s'``, ``E'a\\nb'``, ``$tag$..$tag$``, ``B'01'``, ``X'ff'``, ``U&'d\\0061t'``
    -> the text between the quotes, escapes read as PostgreSQL reads them."""
    if literal[:1] == "$":
        tag = literal[: literal.index("$", 1) + 1]
        return literal[len(tag) : -len(tag)]
    if literal[:1] in "Ee":
        pieces = _ESCAPE_PIECES.findall(literal[1:])
        return "".join(_BACKSLASH.sub(_escape, piece.replace("''", "'")) for piece in pieces)
    value = "".join(piece.replace("''", "'") for piece in _PIECES.findall(literal))
    if literal[:2] in ("U&", "u&"):
        return unicode_unescape(value)
    return value


def unicode_unescape(text: str) -> str:
    """The body of ``U&'...'`` or ``U&"..."`` with its escapes read (default escape ``\\``)."""
    return _UNICODE.sub(_unicode, text)


def _escape(match: re.Match[str]) -> str:
    if match["octal"] is not None:
        return _char(int(match["octal"], 8))
    if match["hex"] is not None:
        return _char(int(match["hex"], 16))
    code = match["u4"] or match["u8"]
    if code is not None:
        return _char(int(code, 16))
    char = match["char"]
    return _SIMPLE.get(char, char)


def _unicode(match: re.Match[str]) -> str:
    code = match["u4"] or match["u6"]
    return "\\" if code is None else _char(int(code, 16))


def _char(code: int) -> str:
    # PostgreSQL refuses NUL and out-of-range code points; keep them visible instead.
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
