"""Split SQL text into statements with their positions, without a parser.

A small scanner that knows PostgreSQL's lexical rules well enough to find the
semicolons that end statements: '…' and E'…' strings, "…" identifiers,
$tag$ dollar quotes $tag$, -- and nested /* */ comments, and
``BEGIN ATOMIC … END`` function bodies. Both the linter (for positions) and
the engine (to run statements one by one) use it, so they agree on what a
statement is.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_NEWLINE = re.compile("\n")
# Tokens that can change how a semicolon is read; everything between is skipped.
_SPECIAL = re.compile(r"""--|/\*|;|[eE]'|'|"|\$""")
_SPECIAL_WITH_WORDS = re.compile(r"""--|/\*|;|[eE]'|'|"|\$|[A-Za-z_][A-Za-z0-9_$]*""")


@dataclass(frozen=True, slots=True)
class SqlComment:
    text: str  # including the -- or /* */ markers
    start: int  # 0-based offset
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True, slots=True)  # slots: a 10 MB file has ~280k of them
class SqlStatement:
    text: str  # from the first significant character to before the ';'
    start: int  # 0-based offset of the first significant character
    end: int  # offset just past the statement text (before ';')
    line: int  # 1-based line of the first significant character
    column: int  # 1-based column of the first significant character
    end_line: int
    leading_comments: tuple[SqlComment, ...]  # comments since the previous statement
    terminated: bool  # ended with ';' (False for a last statement without one)


class _Positions:
    """Offsets to 1-based line/column, via a table of line starts."""

    def __init__(self, text: str) -> None:
        # An array, not a list of int objects: a quarter of the memory on big files.
        self.starts = array("q", [0])
        self.starts.extend(m.end() for m in _NEWLINE.finditer(text))

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1


def split_statements(text: str) -> list[SqlStatement]:
    """Every statement in ``text``, in order; empty statements are skipped."""
    return _Scanner(text).statements


def find_comments(text: str) -> list[SqlComment]:
    """Every comment in ``text`` (none inside strings), in order."""
    return _Scanner(text).comments


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.positions = _Positions(text)
        self.comments: list[SqlComment] = []
        self.statements: list[SqlStatement] = []
        self._scan()

    def _comment(self, start: int, end: int) -> SqlComment:
        line, column = self.positions.at(start)
        return SqlComment(text=self.text[start:end], start=start, line=line, column=column)

    def _scan(self) -> None:
        """Jump from one interesting token to the next; plain text is skipped in bulk.

        Words are only tokens when the text may hold ``BEGIN ATOMIC`` (the one
        construct whose inner semicolons do not end the statement), which keeps
        the common case a handful of regex searches per statement.
        """
        text, n = self.text, len(self.text)
        track_words = "atomic" in text.lower()
        special = _SPECIAL_WITH_WORDS if track_words else _SPECIAL
        i = 0
        first: int | None = None  # first significant character of the current statement
        last = 0  # just past the last significant character
        pending_comments: list[SqlComment] = []
        words: list[str] = []  # last two upper-cased words, for BEGIN ATOMIC / END
        atomic_depth = 0
        while i < n:
            match = special.search(text, i)
            stop = match.start() if match else n
            if stop > i:  # plain text (or whitespace) up to the next token
                segment = text[i:stop]
                body = segment.strip()
                if body:
                    if first is None:
                        first = i + len(segment) - len(segment.lstrip())
                    last = i + len(segment.rstrip())
            if match is None:
                break
            token, i = match.group(0), stop
            if token == "--":
                end = text.find("\n", i)
                end = n if end < 0 else end
                self._note_comment(i, end, first, pending_comments)
                i = end
                continue
            if token == "/*":
                end = self._block_comment_end(i)
                self._note_comment(i, end, first, pending_comments)
                i = end
                continue
            if token == ";":
                if atomic_depth:
                    last = i = i + 1
                    continue
                if first is not None:
                    self._emit(first, last, pending_comments, terminated=True)
                first, pending_comments, words = None, [], []
                i += 1
                continue
            if first is None:
                first = i
            if token == "'" or (token in ("e'", "E'") and not _word_before(text, i)):
                i = self._string_end(i)
            elif token in ("e'", "E'"):  # the end of a word, then a plain string
                i = self._string_end(i + 1)
            elif token == '"':
                i = self._quoted_end(i, '"')
            elif token == "$":
                tag = _DOLLAR_TAG.match(text, i)
                if tag and not _word_before(text, i):
                    close = text.find(tag.group(0), tag.end())
                    i = n if close < 0 else close + len(tag.group(0))
                else:
                    i += 1
            else:  # a word, tracked only for BEGIN ATOMIC bodies
                upper = token.upper()
                opens_atomic = upper == "ATOMIC" and words[-1:] == ["BEGIN"]
                if opens_atomic or (upper == "CASE" and atomic_depth):
                    atomic_depth += 1
                elif upper == "END" and atomic_depth:
                    atomic_depth -= 1
                words = [*words[-1:], upper]
                i = match.end()
            last = i
        if first is not None:
            self._emit(first, last, pending_comments, terminated=False)

    def _note_comment(
        self, start: int, end: int, first: int | None, pending: list[SqlComment]
    ) -> None:
        comment = self._comment(start, end)
        self.comments.append(comment)
        if first is None:
            pending.append(comment)

    def _emit(self, first: int, last: int, comments: list[SqlComment], *, terminated: bool) -> None:
        line, column = self.positions.at(first)
        end_line, _ = self.positions.at(max(first, last - 1))
        self.statements.append(
            SqlStatement(
                text=self.text[first:last],
                start=first,
                end=last,
                line=line,
                column=column,
                end_line=end_line,
                leading_comments=tuple(comments),
                terminated=terminated,
            )
        )

    def _block_comment_end(self, i: int) -> int:
        depth, j, n = 0, i, len(self.text)
        while j < n:
            if self.text.startswith("/*", j):
                depth += 1
                j += 2
            elif self.text.startswith("*/", j):
                depth -= 1
                j += 2
                if depth == 0:
                    return j
            else:
                j += 1
        return n

    def _string_end(self, i: int) -> int:
        text, n = self.text, len(self.text)
        escapes = text[i] in "eE"
        j = i + (2 if escapes else 1)
        while j < n:
            ch = text[j]
            if escapes and ch == "\\":
                j += 2
                continue
            if ch == "'":
                if text.startswith("'", j + 1):
                    j += 2
                    continue
                return j + 1
            j += 1
        return n

    def _quoted_end(self, i: int, quote: str) -> int:
        text, n = self.text, len(self.text)
        j = i + 1
        while j < n:
            if text[j] == quote:
                if text.startswith(quote, j + 1):
                    j += 2
                    continue
                return j + 1
            j += 1
        return n


def _word_before(text: str, i: int) -> bool:
    """``abc$1`` and ``name'`` are not quote starts: they continue a word."""
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_$")
