"""Checksums of what each phase of a migration runs, for drift detection.

A phase's checksum is built from one checksum per file the phase reads, so a
drift message can name the file that changed. SQL is compared as its
statements with comments removed and whitespace dropped wherever it does not
separate two words (string literals, quoted identifiers and dollar-quoted
bodies are kept exactly): re-indenting or commenting a file is no drift.
"""

from __future__ import annotations

import hashlib
import json

from expandctl.model.manifest import Manifest
from expandctl.model.phases import Phase
from expandctl.model.sql_split import DOLLAR_TAG, find_comments, split_statements
from expandctl.model.sqlfiles import SqlFile

MANIFEST_NAME = "migration.toml"


def phase_checksum(file_checksums: dict[str, str]) -> str:
    """A phase's checksum: what its files do, ignoring whitespace and comments."""
    blob = json.dumps(file_checksums, sort_keys=True, separators=(",", ":"))
    return _digest(blob)


def file_checksums(
    manifest: Manifest, sql_files: dict[str, SqlFile], phase: Phase
) -> dict[str, str]:
    """One checksum per file the phase reads: its SQL files and migration.toml.

    The manifest counts through what the phase uses of it, parsed, so TOML
    layout and comments do not count either.
    """
    found = {
        name: _digest("\n".join(normalised_statements(f.text)))
        for name, f in sorted(sql_files.items())
        if f.phase is phase
    }
    found[MANIFEST_NAME] = _digest(json.dumps(_manifest_part(manifest, phase), sort_keys=True))
    return found


def legacy_phase_checksum(manifest: Manifest, sql_files: dict[str, SqlFile], phase: Phase) -> str:
    """The checksum expandctl 0.1 recorded (raw file text): unchanged files still match it."""
    relevant = {
        "sql": {name: f.text for name, f in sorted(sql_files.items()) if f.phase is phase},
        **_manifest_part(manifest, phase),
    }
    return _digest(json.dumps(relevant, sort_keys=True, separators=(",", ":")))


def normalised_statements(text: str) -> list[str]:
    """The file's statements, each without comments and without insignificant whitespace."""
    return [bare for s in split_statements(text) if (bare := normalised_sql(s.text))]


def normalised_sql(text: str) -> str:
    """``text`` with comments gone and whitespace kept only between two word characters."""
    bare = _without_comments(text)
    out: list[str] = []
    space = False
    i = 0
    while i < len(bare):
        char = bare[i]
        if char.isspace():
            space, i = True, i + 1
            continue
        if space and out and _wordish(out[-1][-1]) and _wordish(char):
            out.append(" ")
        space = False
        end = _quoted_end(bare, i)
        out.append(bare[i:end])
        i = end
    return "".join(out)


def _without_comments(text: str) -> str:
    pieces: list[str] = []
    last = 0
    for comment in find_comments(text):
        pieces.append(text[last : comment.start])
        pieces.append(" ")
        last = comment.start + len(comment.text)
    pieces.append(text[last:])
    return "".join(pieces)


def _wordish(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _quoted_end(text: str, i: int) -> int:
    """Just past the string, quoted identifier or dollar quote starting at ``i`` (else i + 1)."""
    char = text[i]
    if char in "'\"":
        escapes = char == "'" and i > 0 and text[i - 1] in "eE"
        j = i + 1
        while j < len(text):
            if escapes and text[j] == "\\":
                j += 2
            elif text[j] == char:
                if text[j + 1 : j + 2] != char:
                    return j + 1
                j += 2
            else:
                j += 1
        return len(text)
    if char == "$" and (i == 0 or not _wordish(text[i - 1])):
        tag = DOLLAR_TAG.match(text, i)
        if tag:
            end = text.find(tag.group(0), tag.end())
            return len(text) if end < 0 else end + len(tag.group(0))
    return i + 1


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _manifest_part(manifest: Manifest, phase: Phase) -> dict[str, object]:
    """What a phase runs from migration.toml: operations, its gate, backfill, retires.

    The description and other phases' gates are left out, so fixing a typo in
    the description is not drift.
    """
    return {
        "operations": [op.model_dump(mode="json", by_alias=True) for op in manifest.operations],
        "gate": (g.model_dump(mode="json") if (g := manifest.gates.get(phase)) else None),
        "retires": [str(r) for r in manifest.retires] if phase is Phase.CONTRACT else [],
        "backfill": [b.model_dump(mode="json") for b in manifest.backfill]
        if phase is Phase.BACKFILL
        else [],
    }
