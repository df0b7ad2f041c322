"""Filling an old column's facts into rename_column / change_column_type, and
refusing the ones the manifest states wrongly. Pure; see column_facts."""

from __future__ import annotations

from typing import Any, Protocol

from expandctl.model.ops.column_facts import (
    CatalogFacts,
    ColumnFacts,
    FactConflict,
    type_matches,
)

_HINT = "leave {key} out to use the database's, or correct it"

# How each boolean fact reads, true and false, for "but users.email is ..."
_SAYS: dict[str, tuple[str, str]] = {
    "not_null": ("NOT NULL", "nullable"),
    "unique": ("unique (it has a one-column unique index)", "not unique"),
    "index": ("indexed (it has a one-column index)", "not indexed (no one-column index)"),
}


class _CarriesColumn(Protocol):
    @property
    def schema_(self) -> str | None: ...

    @property
    def table(self) -> str: ...

    @property
    def column(self) -> str: ...

    @property
    def to(self) -> str: ...

    @property
    def display(self) -> str: ...


def carried_facts(
    op: _CarriesColumn,
    facts: CatalogFacts,
    where: str,
    *,
    type_key: str | None,
    default_key: str | None = "default",
) -> tuple[dict[str, Any], list[FactConflict]]:
    """The fields to fill (those the manifest left out) and the stated ones that are wrong.

    A column missing from the catalog fills nothing: expand's own checks say it
    does not exist (it may also be created by a migration that has not run yet).
    """
    old = facts.columns.get((op.schema_, op.table, op.column))
    if old is None:
        return {}, []
    name = f"{op.display}.{op.column}"
    update: dict[str, Any] = {}
    conflicts: list[FactConflict] = []
    if type_key is not None:
        declared = getattr(op, type_key)
        if declared is None:
            update[type_key] = old.type
        else:
            conflict = _type_conflict(declared, facts, old, name, where, type_key)
            if conflict is not None:
                conflicts.append(conflict)
    actual = {"not_null": old.not_null, "unique": old.unique, "index": old.indexed}
    for key, is_so in actual.items():
        declared = getattr(op, key)
        if declared is None:
            update[key] = is_so
        elif declared != is_so:
            says = _SAYS[key][0 if is_so else 1]
            conflicts.append(
                FactConflict(
                    f"{where}: {key} = {'true' if declared else 'false'} in migration.toml,"
                    f" but {name} is {says} in the database",
                    _HINT.format(key=key),
                )
            )
    if default_key is not None and getattr(op, default_key) is None:
        # After expand the old column's default lives on the new one (expand moved it).
        new = facts.columns.get((op.schema_, op.table, op.to))
        default = old.default or (new.default if new is not None else None)
        if default is not None:
            update[default_key] = default
    return update, conflicts


def _type_conflict(
    declared: str, facts: CatalogFacts, old: ColumnFacts, name: str, where: str, key: str
) -> FactConflict | None:
    matches = type_matches(declared, facts, old)
    if matches is None:
        return FactConflict(
            f"{where}: {key} = {declared!r} in migration.toml is not a type the database"
            f" knows; {name} is {old.type}",
            _HINT.format(key=key),
        )
    if not matches:
        return FactConflict(
            f"{where}: {key} = {declared!r} in migration.toml, but {name} is {old.type}"
            " in the database",
            _HINT.format(key=key),
        )
    return None
