"""Every object a phase plan drops, renames or retypes, read with the linter's statement reader.

Only SQL steps are read; backfills and resets remove nothing. The engine's
interference check (``expandctl.engine.interference``) takes this list and
looks for whatever still needs each object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from expandctl.lint import actions as a
from expandctl.lint.source import read_actions
from expandctl.model.removals import Removal, RemovalKind, Verb
from expandctl.model.steps import PhasePlan, SqlStep

_DROPPABLE: dict[str, RemovalKind] = {
    "table": "table",
    "view": "view",
    "materialized view": "materialized view",
    "function": "function",
    "procedure": "procedure",
    "trigger": "trigger",
    "index": "index",
    "type": "type",
    "domain": "type",
    "policy": "policy",
    "sequence": "sequence",
}
_NAME_PART = re.compile(r'"(?:[^"]|"")*"|[^.]+')


@dataclass(frozen=True)
class _At:
    """The step an action comes from."""

    index: int
    source: str
    line: int | None

    def removal(self, **fields: Any) -> Removal:
        return Removal(step_index=self.index, source=self.source, line=self.line, **fields)


def removals(plan: PhasePlan) -> list[Removal]:
    """What each SQL step of ``plan`` drops, renames or retypes, in step order."""
    found: list[Removal] = []
    for index, step in enumerate(plan.steps):
        if not isinstance(step, SqlStep):
            continue
        for action in read_actions(step.sql):
            found.extend(_from_action(action, index, step))
    return found


def _from_action(action: a.Action, index: int, step: SqlStep) -> list[Removal]:
    at = _At(index, step.source, step.line)
    if isinstance(action, a.DropColumn) and action.table:
        return [_column(action.table, action.column, "drop", at, cascade=action.cascade)]
    if isinstance(action, a.AlterColumnType) and action.table:
        return [_column(action.table, action.column, "retype", at)]
    if isinstance(action, a.DropConstraint) and action.table:
        schema, table = _split_table(action.table)
        return [
            at.removal(
                kind="constraint",
                verb="drop",
                name=action.name,
                schema_name=schema,
                table=table,
                cascade=action.cascade,
            )
        ]
    if isinstance(action, a.DropObjects) and action.kind in _DROPPABLE:
        return [_dropped(action, name, at) for name in action.names]
    if isinstance(action, a.Rename):
        return _renamed(action, at)
    return []


def _column(table_name: str, column: str, verb: Verb, at: _At, *, cascade: bool = False) -> Removal:
    schema, table = _split_table(table_name)
    return at.removal(
        kind="column",
        verb=verb,
        name=column,
        schema_name=schema,
        table=table,
        cascade=cascade,
    )


def _dropped(action: a.DropObjects, name: str, at: _At) -> Removal:
    kind = _DROPPABLE[action.kind]
    parts = _parts(name)
    schema: str | None = None
    table: str | None = None
    if kind in ("trigger", "policy"):  # read as "[schema.]table.name"
        table = parts[-2] if len(parts) > 1 else None
        schema = parts[-3] if len(parts) > 2 else None
    else:
        schema = parts[-2] if len(parts) > 1 else None
        table = parts[-1] if kind == "table" else None
    return at.removal(
        kind=kind,
        verb="drop",
        name=parts[-1],
        schema_name=schema,
        table=table,
        cascade=action.cascade,
    )


def _renamed(action: a.Rename, at: _At) -> list[Removal]:
    parts = _parts(action.name)
    if action.kind == "column" and len(parts) >= 2:
        schema = parts[-3] if len(parts) > 2 else None
        return [
            at.removal(
                kind="column",
                verb="rename",
                name=parts[-1],
                schema_name=schema,
                table=parts[-2],
                new_name=action.new_name,
            )
        ]
    kind = _DROPPABLE.get(action.kind)
    if kind is None:
        return []
    schema = parts[-2] if len(parts) > 1 else None
    return [
        at.removal(
            kind=kind,
            verb="rename",
            name=parts[-1],
            schema_name=schema,
            table=parts[-1] if kind == "table" else None,
            new_name=action.new_name,
        )
    ]


def _split_table(name: str) -> tuple[str | None, str]:
    parts = _parts(name)
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


def _parts(name: str) -> list[str]:
    """``public.users`` -> ["public", "users"]; a quoted part keeps its dots."""
    out = []
    for part in _NAME_PART.findall(name):
        if part.startswith('"') and part.endswith('"') and len(part) >= 2:
            part = part[1:-1].replace('""', '"')
        out.append(part)
    return out or [name]
