"""A migration's operations with what the live catalog knows filled in.

``fact_requests`` says which columns (and declared types) the operations
want to know about; the engine reads them (``engine.catalog_facts``);
``with_catalog_facts`` returns the migration with the omitted facts filled and
every stated fact the catalog contradicts. Pure: no database here.
"""

from __future__ import annotations

from typing import Any

from expandctl.model.migration import Migration
from expandctl.model.ops.column_facts import (
    CatalogFacts,
    ColumnKey,
    FactConflict,
    UsesCatalogFacts,
)


def fact_requests(migration: Migration) -> tuple[list[ColumnKey], list[str]]:
    """The columns whose facts the operations use, and the types they state."""
    columns: list[ColumnKey] = []
    types: list[str] = []
    for op in migration.manifest.operations:
        if isinstance(op, UsesCatalogFacts):
            columns.extend(c for c in op.fact_columns() if c not in columns)
            types.extend(t for t in op.declared_types() if t not in types)
    return columns, types


def with_catalog_facts(
    migration: Migration, facts: CatalogFacts
) -> tuple[Migration, list[FactConflict]]:
    """The migration planned from what the catalog says; conflicts refuse the phase."""
    operations: list[Any] = []
    conflicts: list[FactConflict] = []
    for position, op in enumerate(migration.manifest.operations):
        if isinstance(op, UsesCatalogFacts):
            filled, found = op.with_facts(facts, f"operation {position + 1} ({op.label})")
            conflicts.extend(found)
            operations.append(filled)
        else:
            operations.append(op)
    if operations == list(migration.manifest.operations):
        return migration, conflicts
    manifest = migration.manifest.model_copy(update={"operations": operations})
    return migration.model_copy(update={"manifest": manifest}), conflicts
