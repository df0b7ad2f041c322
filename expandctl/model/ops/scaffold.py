"""The ``[[operations]]`` entry ``expandctl new --op ...`` writes into a new manifest.

Pure text generation: every value the user gave is filled in; what they did
not give gets a plausible placeholder and a comment saying what to put
there. The result always parses and validates, so ``plan`` works at once.
"""

from __future__ import annotations

import json
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


def _fields(a: ScaffoldInput) -> list[tuple[str, Any, str]]:
    """(key, value, comment) lines for one operation."""
    table = a.table or "users"
    column = a.column or "name"
    t: list[tuple[str, Any, str]] = [("table", table, "")]
    if a.op == "rename_column":
        return [
            *t,
            ("column", column, ""),
            ("to", a.to or f"{column}_new", ""),
            ("type", a.type or "text", "the column's SQL type"),
            ("not_null", False, "true if the column is NOT NULL"),
        ]
    if a.op == "change_column_type":
        to = a.to or f"{column}_new"
        new_type = a.type or "bigint"
        return [
            *t,
            ("column", column, ""),
            ("to", to, "the new column, of the new type"),
            ("type", new_type, ""),
            ("up", f"CAST({column} AS {new_type})", "old value -> new type"),
            ("down", f"CAST({to} AS integer)", "new value -> the OLD type: adjust"),
        ]
    if a.op == "retype_column":
        return [
            *t,
            ("column", column, ""),
            ("from_type", "integer", "the column's current type (checked)"),
            ("type", a.type or "bigint", "the new type; the name stays"),
            ("# primary_key", f"{table}_pkey", "its primary key, if it is one (checked)"),
            ("# sequence", f"{table}_{column}_seq", "serial; or identity = 'by default'"),
            ("# referenced_by", [{"table": "orders", "column": f"{table}_{column}"}], ""),
        ]
    if a.op == "replace_column":
        to = a.to or f"{column}_new"
        return [
            *t,
            ("old", [{"name": column, "down": to}], "down: SQL over the new columns"),
            (
                "new",
                [{"name": to, "type": a.type or "text", "up": column}],
                "up: SQL over the old columns",
            ),
        ]
    if a.op == "add_column":
        return [
            *t,
            ("column", column, ""),
            ("type", a.type or "text", ""),
            ("# default", "''", "SQL default for new rows and the backfill"),
            ("# not_null", True, "needs a default"),
        ]
    if a.op in ("set_not_null", "drop_not_null", "drop_column"):
        extra = [("# default", "''", "fills NULLs too")] if a.op == "set_not_null" else []
        return [*t, ("column", column, ""), *extra]
    if a.op == "add_check":
        return [
            *t,
            ("name", a.name or f"{table}_{column}_check", ""),
            ("check", f"{column} IS NOT NULL", "SQL condition over the row"),
        ]
    if a.op == "add_foreign_key":
        return [
            *t,
            ("name", a.name or f"{table}_{column}_fkey", ""),
            ("columns", [column], ""),
            ("references", a.to or "other_table", ""),
            ("references_columns", ["id"], ""),
            ("on_delete", "no action", "restrict, cascade, set null, set default"),
        ]
    if a.op in ("add_unique", "create_index"):
        suffix = "key" if a.op == "add_unique" else "idx"
        return [*t, ("name", a.name or f"{table}_{column}_{suffix}", ""), ("columns", [column], "")]
    if a.op == "drop_index":
        return [("name", a.name or f"{table}_{column}_idx", "")]
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
        return [*t, ("to", a.to or f"{table}_new", "")]
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
