"""The ``[[operations]]`` entry ``expandctl new --op ...`` writes into a new manifest.

Pure text generation: every value the user gave is written as given; a
value they did not give is written as a placeholder (``"<TABLE>"``) with a
comment saying what to put there. The loader refuses any placeholder left in
a manifest (``is_placeholder``), so a scaffold that was not filled in can
never plan, lint or run — a guessed ``table = "users"`` once passed lint and
would have dropped ``users.name``. Names derived only from values the user
gave (``users_email_key``) are written out; nothing else is guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScaffoldInput:
    op: str
    table: str | None = None
    column: str | None = None
    to: str | None = None
    type: str | None = None
    name: str | None = None


# What `new` writes for a value it was not given; the loader refuses each of them.
PLACEHOLDER_WORDS = ("TABLE", "COLUMN", "TO", "TYPE", "NAME", "UP", "DOWN", "CHECK", "REFERENCES")
PLACEHOLDERS = tuple(f"<{word}>" for word in PLACEHOLDER_WORDS)
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


def find_placeholder(value: str) -> str | None:
    """The first placeholder written by ``expandctl new`` still in ``value``, if any."""
    found = _PLACEHOLDER.search(value)
    return found.group() if found else None


def toml_value(value: Any) -> str:
    """TOML for strings, booleans, lists and inline tables (JSON string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


Line = tuple[str, Any, str]  # (key, value, comment); a key starting with '#' is commented out


def _given(value: str | None, placeholder: str, comment: str) -> tuple[str, str]:
    """The value as given, or the placeholder with what to fill in."""
    if value:
        return value, ""
    return placeholder, f"fill in: {comment}"


def _derived(a: ScaffoldInput, suffix: str) -> tuple[str, str]:
    """--name, or a name derived from --table and --column, or the placeholder."""
    if a.name:
        return a.name, ""
    if a.table and a.column:
        return f"{a.table}_{a.column}_{suffix}", "derived from --table and --column"
    return "<NAME>", f"fill in: the name, e.g. <table>_<column>_{suffix}"


def _fields(a: ScaffoldInput) -> list[Line]:
    """(key, value, comment) lines for one operation."""
    table, table_note = _given(a.table, "<TABLE>", "the table to change")
    column, column_note = _given(a.column, "<COLUMN>", "the column to change")
    t: list[Line] = [("table", table, table_note)]
    c: list[Line] = [("column", column, column_note)]
    if a.op == "rename_column":
        to, note = _given(a.to, "<TO>", "the column's new name")
        typed: list[Line] = (
            [("type", a.type, "checked against the database")]
            if a.type
            else [("# type", "text", "read from the database when left out (so are the next)")]
        )
        return [
            *t,
            *c,
            ("to", to, note),
            *typed,
            ("# not_null", True, "stating one double-checks it: a mismatch is refused"),
            ("# unique", True, ""),
            ("# index", True, ""),
            ("# default", "''", ""),
        ]
    if a.op == "change_column_type":
        to, to_note = _given(a.to, "<TO>", "the new column, of the new type")
        new_type, type_note = _given(a.type, "<TYPE>", "the new SQL type, e.g. bigint")
        return [
            *t,
            *c,
            ("to", to, to_note),
            ("type", new_type, type_note),
            ("# up", f"CAST({column} AS {new_type})", "old value -> new type (default: CAST)"),
            ("down", "<DOWN>", f"fill in: SQL over {to} giving the OLD type's value"),
            ("# not_null", True, "read from the database when left out (so are unique, index)"),
        ]
    if a.op == "retype_column":
        new_type, type_note = _given(a.type, "<TYPE>", "the new type; the name stays")
        return [
            *t,
            *c,
            ("from_type", "<TYPE>", "fill in: the column's current type (checked)"),
            ("type", new_type, type_note),
            ("# primary_key", f"{table}_pkey", "its primary key, if it is one (checked)"),
            ("# sequence", f"{table}_{column}_seq", "serial; or identity = 'by default'"),
            ("# referenced_by", [{"table": "orders", "column": f"{table}_{column}"}], ""),
        ]
    if a.op == "replace_column":
        to, _ = _given(a.to, "<TO>", "")
        new_type, _ = _given(a.type, "<TYPE>", "")
        return [
            *t,
            ("old", [{"name": column, "down": "<DOWN>"}], "fill in: down, SQL over the new"),
            (
                "new",
                [{"name": to, "type": new_type, "up": "<UP>"}],
                "fill in: up, SQL over the old",
            ),
        ]
    if a.op == "add_column":
        new_type, type_note = _given(a.type, "<TYPE>", "the column's SQL type")
        return [
            *t,
            *c,
            ("type", new_type, type_note),
            ("# default", "''", "SQL default for new rows and the backfill"),
            ("# not_null", True, "needs a default"),
        ]
    if a.op in ("set_not_null", "drop_not_null", "drop_column"):
        fills = a.op == "set_not_null"
        extra: list[Line] = [("# default", "''", "fills NULLs too")] if fills else []
        return [*t, *c, *extra]
    if a.op == "add_check":
        name, note = _derived(a, "check")
        return [
            *t,
            ("name", name, note),
            ("check", "<CHECK>", "fill in: SQL condition over the row, e.g. age > 0"),
        ]
    if a.op == "add_foreign_key":
        name, note = _derived(a, "fkey")
        references, ref_note = _given(a.to, "<REFERENCES>", "the referenced table (--to)")
        return [
            *t,
            ("name", name, note),
            ("columns", [column], column_note),
            ("references", references, ref_note),
            ("references_columns", ["id"], "the referenced key"),
            ("on_delete", "no action", "restrict, cascade, set null, set default"),
        ]
    if a.op in ("add_unique", "create_index"):
        name, note = _derived(a, "key" if a.op == "add_unique" else "idx")
        return [*t, ("name", name, note), ("columns", [column], column_note)]
    if a.op == "drop_index":
        name, note = _given(a.name, "<NAME>", "the index to drop (--name)")
        return [("name", name, note)]
    if a.op == "create_table":
        return [
            *t,
            (
                "columns",
                [{"name": "id", "type": "bigint", "identity": True, "not_null": True}],
                "",
            ),
            ("primary_key", ["id"], ""),
        ]
    if a.op == "drop_table":
        return t
    if a.op == "rename_table":
        to, note = _given(a.to, "<TO>", "the table's new name")
        return [*t, ("to", to, note)]
    if a.op == "sql":
        return [
            ("expand", "", "SQL per phase, like the phase files"),
            ("'expand.down'", "", "how to undo expand"),
        ]
    raise ValueError(f"unknown operation {a.op!r}")


def scaffold_operation(a: ScaffoldInput) -> str:
    """``[[operations]]`` TOML for one operation."""
    lines = ["[[operations]]", f"op = {toml_value(a.op)}"]
    for key, value, comment in _fields(a):
        line = f"{key} = {toml_value(value)}"
        lines.append(f"{line}  # {comment}" if comment else line)
    return "\n".join(lines) + "\n"
