r"""Split SQL text into statements with their positions, without a parser.

A small scanner that knows PostgreSQL's lexical rules well enough to find the
semicolons that end statements: '…' and E'…' strings, "…" identifiers,
$tag$ dollar quotes $tag$, -- and nested /* */ comments, and
``BEGIN ATOMIC … END`` function bodies. Both the linter (for positions) and
the engine (to run statements one by one) use it, so they agree on what a
statement is.

It also reads a file the way psql would: a backslash outside quotes starts a
psql meta-command (``\set``, ``\connect``, ``\i``) that runs to the end of
the line and is not part of any statement (``\g`` and friends also end the
statement), and the data rows after ``COPY … FROM stdin;`` up to the ``\.``
line are data, not statements. ``split_script`` reports both, with where
placeholders sit outside quotes: templates (``{{ }}``, ``{% %}``, ``${}``)
and psql variables or bind parameters (``:name``, ``:'name'``). The engine
refuses psql commands; the linter reports them and templates.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add

# A dollar-quote tag: $$ or $tag$, the tag a letter, _ or any non-ASCII character
# below U+10000, then those or digits. Written as negated ASCII classes: the
# equivalent [A-Za-z_\x80-\uffff] costs the regex compiler 7 ms at every start.
DOLLAR_TAG = re.compile(
    r"\$([^\x00-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff]"
    r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff]*)?\$"
)
_SIGNIFICANT = re.compile(r"\S")  # what str.strip() keeps: the same Unicode whitespace
# Tokens that can change how a semicolon is read; everything between is skipped.
# A backslash starts a psql meta-command; "{" outside quotes is a template
# placeholder and ":name" a psql variable or bind parameter (none of them is
# PostgreSQL syntax, so plain SQL never has them).
_PSQL_AND_TEMPLATES = r"""|\\|\{|(?<!:):(?=['"A-Za-z_{])"""
_BASE = r"""--|/\*|;|[eE]'|'|"|\$""" + _PSQL_AND_TEMPLATES
_WORDS = r"|[A-Za-z_][A-Za-z0-9_$]*"
_PARENS = r"|[()]"
# Without words or parentheses to track, a search for the tokens' first
# characters is several times faster than the alternation; the loop then reads
# which token it is (or that a "-", "/" or ":" starts none).
_FIRST_CHARS = re.compile(r"""[-/;'"$\\{:]""")
_VARIABLE_STARTS = frozenset("'\"{_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# By (track words, track parentheses).
_SPECIALS = {
    (False, False): _FIRST_CHARS,
    (True, False): re.compile(_BASE + _WORDS),
    (False, True): re.compile(_BASE + _PARENS),
    (True, True): re.compile(_BASE + _PARENS + _WORDS),
}
_META_NAME = re.compile(r"\\([A-Za-z?!;]*)")
# Meta-commands that send the query buffer, so they end the statement like ';'.
_SENDS_QUERY = frozenset({"g", "gx", "gset", "gexec", "gdesc", "crosstabview", "watch"})
_COPY_FROM_STDIN = re.compile(r"copy\b.*?\bfrom\s+stdin\b", re.IGNORECASE | re.DOTALL)
# A whole placeholder, to show it and to skip it (its inside may hold quotes).
_PLACEHOLDER = re.compile(
    r"""\$\{[^}\n]*\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}"""
    r"""|:'[^'\n]*'|:"[^"\n]*"|:\{\?[^}\n]*\}|:[A-Za-z_][A-Za-z0-9_]*|\{"""
)
_COPY_END = re.compile(r"^\\\.[ \t]*\r?$", re.MULTILINE)


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


@dataclass(frozen=True, slots=True)
class PsqlCommand:
    """A psql meta-command: a backslash outside quotes, up to the end of its line."""

    name: str  # without the backslash: "set", "connect", "i", "gset"
    text: str  # the whole command as written, e.g. "\\set ON_ERROR_STOP on"
    start: int
    end: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class CopyData:
    """The data rows psql sends for ``COPY … FROM stdin``, up to and with the ``\\.`` line."""

    start: int
    end: int
    line: int  # 1-based line of the first data row
    end_line: int
    rows: int


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A placeholder outside quotes: a template's ``{{ … }}``, ``{% … %}``, ``${…}``
    (``kind`` "template"), or a psql variable / bind parameter ``:name``,
    ``:'name'``, ``:"name"`` (``kind`` "variable": it stands for a value or a name)."""

    kind: str
    text: str  # the placeholder as written (its first 40 characters)
    start: int
    end: int
    line: int
    column: int


@dataclass(frozen=True)
class ScannedSql:
    """Everything the scanner found in one text."""

    statements: list[SqlStatement]
    comments: list[SqlComment]
    psql_commands: list[PsqlCommand]
    copy_data: list[CopyData]
    placeholders: list[Placeholder]


class _Positions:
    """Offsets to 1-based line/column, via a table of line starts."""

    def __init__(self, text: str) -> None:
        # An array, not a list of int objects: a quarter of the memory on big files.
        # Built from the lines' lengths: no Python-level step per line.
        self.starts = array("q", [0])
        lengths = map(len, text.split("\n"))
        self.starts.extend(accumulate(map(add, lengths, repeat(1, text.count("\n")))))

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1


def split_statements(text: str) -> list[SqlStatement]:
    """Every statement in ``text``, in order; empty statements are skipped."""
    return _Scanner(text).statements


def find_comments(text: str) -> list[SqlComment]:
    """Every comment in ``text`` (none inside strings), in order."""
    return _Scanner(text).comments


def split_script(text: str) -> ScannedSql:
    """The statements of ``text`` with its psql commands, COPY data and placeholders."""
    scanner = _Scanner(text)
    return ScannedSql(
        statements=scanner.statements,
        comments=scanner.comments,
        psql_commands=scanner.psql_commands,
        copy_data=scanner.copy_data,
        placeholders=scanner.placeholders,
    )


def is_copy_from_stdin(statement: str) -> bool:
    """``COPY … FROM stdin``: psql feeds it the lines after it, up to ``\\.``."""
    return statement[:4].lower() == "copy" and _COPY_FROM_STDIN.match(statement) is not None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.positions = _Positions(text)
        self.comments: list[SqlComment] = []
        self.statements: list[SqlStatement] = []
        self.psql_commands: list[PsqlCommand] = []
        self.copy_data: list[CopyData] = []
        self.placeholders: list[Placeholder] = []
        self._scan()

    def _comment(self, start: int, end: int) -> SqlComment:
        line, column = self.positions.at(start)
        return SqlComment(text=self.text[start:end], start=start, line=line, column=column)

    def _scan(self) -> None:
        """Jump from one interesting token to the next; plain text is skipped in bulk.

        Words are only tokens when the text may hold ``BEGIN ATOMIC`` (the one
        construct whose inner semicolons do not end the statement), and
        parentheses only when it may hold a ``CREATE RULE`` (whose ``DO (…; …)``
        actions are, as for psql, one statement), which keeps the common case a
        handful of regex searches per statement.
        """
        text, n = self.text, len(self.text)
        lowered = text.lower()
        special = _SPECIALS["atomic" in lowered, "rule" in lowered]
        i = 0
        first: int | None = None  # first significant character of the current statement
        last = 0  # just past the last significant character
        pending_comments: list[SqlComment] = []
        words: list[str] = []  # last two upper-cased words, for BEGIN ATOMIC / END
        atomic_depth = 0
        paren_depth = 0
        quick = special is _FIRST_CHARS
        while i < n:
            searched = i
            match = special.search(text, i)
            stop = match.start() if match else n
            if stop > i:  # plain text (or whitespace) up to the next token
                if not text[stop - 1].isspace():  # the usual case: no copy of the text
                    if first is None:
                        first = _SIGNIFICANT.search(text, i, stop).start()  # type: ignore[union-attr]
                    last = stop
                elif first is None:
                    found = _SIGNIFICANT.search(text, i, stop)
                    if found is not None:
                        first = found.start()
                        last = i + len(text[i:stop].rstrip())
                else:
                    trimmed = len(text[i:stop].rstrip())
                    if trimmed:
                        last = i + trimmed
            if match is None:
                break
            token, i = match.group(0), stop
            if quick and token in "'-/:":
                token, i = _first_char_token(text, token, stop, searched)
                if not token:  # a "-", "/" or ":" that starts no token: plain text
                    if first is None:
                        first = stop
                    last = i = stop + 1
                    continue
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
                if atomic_depth or paren_depth:
                    last = i = i + 1
                    continue
                i += 1
                if first is not None:
                    emitted = self._emit(first, last, pending_comments, terminated=True)
                    if emitted.text[:4].lower() == "copy":
                        i = self._skip_copy_data(emitted.text, i)
                first, pending_comments, words = None, [], []
                continue
            if token in "()":
                paren_depth = paren_depth + 1 if token == "(" else max(paren_depth - 1, 0)
                if first is None:
                    first = i
                last = i = i + 1
                continue
            if token == "\\":
                i, sends = self._psql_command(i)
                if sends and first is not None:
                    emitted = self._emit(first, last, pending_comments, terminated=True)
                    i = self._skip_copy_data(emitted.text, i)
                    first, pending_comments, words, paren_depth = None, [], [], 0
                elif self.psql_commands[-1].name == "copy":
                    i = self._skip_copy_data(self.psql_commands[-1].text[1:], i)
                continue
            if token == "{" or token[0] == ":":
                if first is None:
                    first = i
                if token == ":" and _in_brackets(text, first, i):
                    last = i = i + 1  # an array slice
                else:
                    last = i = self._placeholder(i - (token == "{" and text[i - 1 : i] == "$"))
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
                tag = DOLLAR_TAG.match(text, i)
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

    def _psql_command(self, i: int) -> tuple[int, bool]:
        """Record the meta-command(s) at ``i``; return where SQL resumes and whether
        one of them sends the query buffer (ends the statement)."""
        text = self.text
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        resume = end
        double = text.find("\\\\", i + 1, end)  # '\\' ends the arguments: SQL follows
        if double >= 0:
            end, resume = double, double + 2
        sends = False
        # Arguments end at the next unquoted backslash, which starts another command.
        starts = [m.start() for m in re.finditer(r"\\", text[i:end])]
        for k, offset in enumerate(starts):
            start = i + offset
            stop = i + starts[k + 1] if k + 1 < len(starts) else end
            if k and text[start - 1] == "\\":
                continue
            name = _META_NAME.match(text, start)
            command = text[start:stop].rstrip()
            line, column = self.positions.at(start)
            word = name.group(1) if name else ""
            sends = sends or word in _SENDS_QUERY
            self.psql_commands.append(
                PsqlCommand(word, command, start, start + len(command), line, column)
            )
            if word == "copy":  # \copy's arguments are the rest of the line
                break
        return resume, sends

    def _skip_copy_data(self, statement: str, i: int) -> int:
        """After ``COPY … FROM stdin`` psql sends the lines that follow, up to ``\\.``."""
        if not is_copy_from_stdin(statement):
            return i
        text = self.text
        newline = text.find("\n", i)
        if newline < 0:
            return len(text)
        start = newline + 1
        found = _COPY_END.search(text, start)
        end = found.end() if found else len(text)
        line, _ = self.positions.at(start)
        end_line, _ = self.positions.at(max(start, end - 1))
        rows = text.count("\n", start, found.start() if found else end)
        self.copy_data.append(CopyData(start, end, line, end_line, rows))
        return end

    def _placeholder(self, start: int) -> int:
        """Record the placeholder at ``start``; return where it ends."""
        found = _PLACEHOLDER.match(self.text, start)
        if found is None and self.text.startswith("${", start):
            start += 1  # "${" never closed: the "{" alone (from the "$", no progress: a hang)
            found = _PLACEHOLDER.match(self.text, start)
        end = found.end() if found else start + 1
        line, column = self.positions.at(start)
        kind = "variable" if self.text[start] == ":" else "template"
        shown = self.text[start:end][:40]
        self.placeholders.append(Placeholder(kind, shown, start, end, line, column))
        return end

    def _emit(
        self, first: int, last: int, comments: list[SqlComment], *, terminated: bool
    ) -> SqlStatement:
        line, column = self.positions.at(first)
        end_line, _ = self.positions.at(max(first, last - 1))
        statement_text = self.text[first:last]
        if self.psql_commands and self.psql_commands[-1].end > first:
            statement_text = self._without_psql(statement_text, first)
        statement = SqlStatement(
            text=statement_text,
            start=first,
            end=last,
            line=line,
            column=column,
            end_line=end_line,
            leading_comments=tuple(comments),
            terminated=terminated,
        )
        self.statements.append(statement)
        return statement

    def _without_psql(self, statement: str, first: int) -> str:
        """psql runs a meta-command in the middle of a statement and keeps the statement
        around it: blank the command out, keeping every offset where it was."""
        chars = list(statement)
        for command in reversed(self.psql_commands):
            if command.end <= first:
                break
            for k in range(command.start - first, min(command.end - first, len(chars))):
                chars[k] = " "
        return "".join(chars)

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


def _in_brackets(text: str, first: int | None, i: int) -> bool:
    """``arr[1:n]`` is a slice, not a psql variable (strings in between are rare)."""
    if first is None:
        return False
    before = text[first:i]
    return before.count("[") > before.count("]")


def _word_before(text: str, i: int) -> bool:
    """``abc$1`` and ``name'`` are not quote starts: they continue a word."""
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_$")


def _first_char_token(text: str, char: str, at: int, searched: int) -> tuple[str, int]:
    """The token the character found by ``_FIRST_CHARS`` starts, and where; "" for none.

    The same tokens the alternation ``_BASE`` finds: ``--``, ``/*``, a ``:``
    variable (not ``::``), and ``e'``/``E'`` when the ``e`` lies in the text
    just searched (one a token consumed is not re-read)."""
    if char == "'":
        if at > searched and text[at - 1] in "eE":
            return text[at - 1] + "'", at - 1
        return char, at
    if char == "-":
        return ("--" if text.startswith("-", at + 1) else ""), at
    if char == "/":
        return ("/*" if text.startswith("*", at + 1) else ""), at
    if text[at - 1 : at] == ":" or text[at + 1 : at + 2] not in _VARIABLE_STARTS:
        return "", at
    return char, at
