"""Read a text file the loader trusts: regular, UTF-8, no BOM, no control characters.

Everything expandctl reads goes through here, so lint, plan and advance see
the same text. A FIFO, socket or device is refused before it is opened (a
FIFO would block forever). A BOM is dropped (PostgreSQL would read it as part
of the first word). A NUL or other control character is refused with its
line: PostgreSQL would cut a statement at a NUL while plan and lint showed
the whole text.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from expandctl.errors import ExpandctlError

BOM = "\ufeff"
# C0 and C1 control characters and DEL; tab, LF and CR are ordinary text.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NAMES = {0: "NUL", 0x7F: "DEL", 0x0B: "vertical tab", 0x0C: "form feed", 0x1B: "ESC"}


def read_text_file(path: Path, error: type[ExpandctlError]) -> tuple[bytes, str]:
    """The raw bytes (for checksums) and the checked text, newlines normalised."""
    try:
        status = os.stat(path)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", path=path) from None
    _require_regular(status, path, error)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", path=path) from None
    try:
        # Checked again on the open file: it may have been swapped since the stat.
        opened = os.fstat(fd)
        _require_regular(opened, path, error)
        raw = _read_all(fd, opened.st_size)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", path=path) from None
    finally:
        os.close(fd)
    return raw, decode_text(raw, path, error)


def _read_all(fd: int, size: int) -> bytes:
    """The rest of ``fd``: unbuffered reads (a buffered file object costs three more
    system calls a file, and lint reads hundreds of them)."""
    pieces = [os.read(fd, size + 1)]  # one more byte: a file that grew is read on
    while pieces[-1]:
        pieces.append(os.read(fd, 1 << 20))
    return b"".join(pieces)


def decode_text(raw: bytes, path: Path | None, error: type[ExpandctlError]) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason})", path=path) from None
    text = text.removeprefix(BOM).replace("\r\n", "\n").replace("\r", "\n")
    problem = control_character_problem(text)
    if problem is not None:
        message, line = problem
        raise error(message, path=path, line=line, hint="remove it; write it as an escape in SQL")
    return text


def control_character_problem(text: str) -> tuple[str, int] | None:
    """The message and line for the first control character in ``text``, if any."""
    found = CONTROL_CHARACTER.search(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    return f"column {column}: {describe_character(found.group())} is not allowed", line


def describe_character(char: str) -> str:
    code = ord(char)
    name = _NAMES.get(code)
    return f"control character U+{code:04X}" + (f" ({name})" if name else "")


def _require_regular(status: os.stat_result, path: Path, error: type[ExpandctlError]) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise error(
            f"is not a regular file (it is {_kind(status.st_mode)}); expandctl reads only files",
            path=path,
            hint="replace it with a regular file or remove it",
        )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"
