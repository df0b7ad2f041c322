"""Find the line of a key in TOML text, so validation errors can say file:line.

tomllib keeps no positions, so this is a small line scanner: it knows table
headers, arrays of tables, dotted keys and multi-line values — enough to map
a pydantic error location such as ``("backfill", 1, "where")`` to a line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_.\- ]+?))\s*=""")


def _split_key(key: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', key)
    return [next(p for p in groups if p) for groups in parts]


def key_lines(text: str) -> dict[Path, int]:
    """Map each key and table path to the 1-based line where it is written."""
    lines: dict[Path, int] = {}
    array_counts: dict[Path, int] = {}
    prefix: Path = ()
    depth = 0  # open [ or { of a value spanning lines
    in_multiline: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if raw.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if depth > 0:
            depth += _bracket_delta(raw)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(raw)
        if header and not _KEY.match(raw):
            keys = _split_key(header.group(2))
            parts = _with_array_indexes(keys, array_counts)
            if header.group(1) == "[[":
                # the array itself, not its previous element: [[t]] twice is t.0 then t.1
                base = (*_with_array_indexes(keys[:-1], array_counts), keys[-1])
                array_counts[base] = array_counts.get(base, -1) + 1
                lines.setdefault(base, number)
                prefix = (*base, array_counts[base])
            else:
                prefix = tuple(parts)
            for i in range(1, len(prefix) + 1):
                lines.setdefault(prefix[:i], number)
            continue
        key = _KEY.match(raw)
        if not key:
            continue
        path = (*prefix, *_split_key(key.group(1)))
        for i in range(len(prefix) + 1, len(path) + 1):
            lines.setdefault(path[:i], number)
        value = raw[key.end() :]
        for quote in ('"""', "'''"):
            if value.count(quote) % 2 == 1:
                in_multiline = quote
                break
        else:
            depth = max(0, _bracket_delta(value))
    return lines


def _with_array_indexes(parts: list[str], array_counts: dict[Path, int]) -> list[str | int]:
    """``[backfill.set]`` under the 2nd ``[[backfill]]`` is ``backfill.1.set``."""
    out: list[str | int] = []
    for part in parts:
        out.append(part)
        current = tuple(out)
        if current in array_counts:
            out.append(array_counts[current])
    return out


def _bracket_delta(text: str) -> int:
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', "", text.split("#", 1)[0])
    return text.count("[") + text.count("{") - text.count("]") - text.count("}")


def line_of(lines: dict[Path, int], location: Sequence[str | int]) -> int | None:
    """The line of the longest known prefix of ``location`` (skipping union tags)."""
    best: int | None = None
    path: Path = ()
    for part in location:
        candidate = (*path, part)
        if candidate in lines:
            path = candidate
            best = lines[candidate]
    return best
