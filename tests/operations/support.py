"""Operation tests' helpers: parse and plan operations, run them through the real
engine (``advance`` / ``rollback`` on a one-migration project), snapshot the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.model.config import ResolvedConfig, Settings
from expandctl.model.operations import Operation
from expandctl.model.ops.base import OperationBase
from expandctl.model.ops.registry import plan_operations
from expandctl.model.ops.scaffold import toml_value
from expandctl.model.phases import PHASES, Phase
from expandctl.model.steps import Step
from tests.conftest import PgDatabase

MIGRATION_ID = "0042_test_op"

Raw = dict[str, Any]


def parse(raw: Raw) -> OperationBase:
    from pydantic import TypeAdapter

    op = TypeAdapter(Operation).validate_python(raw)
    assert isinstance(op, OperationBase)
    return op


def plan(
    ops: Sequence[OperationBase], phase: Phase, *, rollback: bool = False, version: int = 18
) -> list[Step]:
    return plan_operations(
        ops, phase, rollback=rollback, migration_id=MIGRATION_ID, server_version=version
    )


def manifest(ops: Sequence[Raw], description: str = "operation test") -> str:
    """migration.toml holding ``ops`` as [[operations]] tables."""
    lines = [f"description = {toml_value(description)}"]
    for op in ops:
        lines += ["", "[[operations]]"]
        for key, value in op.items():
            name = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)
            lines.append(f"{name} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def operation_project(
    root: Path, db: PgDatabase, ops: Sequence[Raw], migration_id: str = MIGRATION_ID
) -> ResolvedConfig:
    """A project under ``root`` with one migration holding ``ops``; its config for the engine."""
    folder = root / "migrations" / migration_id
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text(manifest(ops), encoding="utf-8")
    return ResolvedConfig(
        settings=Settings(lock_timeout=timedelta(seconds=1)),
        project_root=str(root),
        source=None,
        database_url=db.url,
    )


def forward_rollback_forward(
    config: ResolvedConfig, dsn: str, migration_id: str = MIGRATION_ID
) -> None:
    """Every phase by ``advance``; each reversible one undone by ``rollback`` (the schema
    must be as before) and advanced again."""
    for phase in PHASES:
        before = snapshot(dsn)
        advance(config, migration_id, to=phase, yes=True)
        if phase.reversible:
            rollback(config, migration_id, yes=True)
            assert snapshot(dsn) == before, f"rolling back {phase.value} left the schema changed"
            advance(config, migration_id, to=phase, yes=True)


SNAPSHOT_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    "relations": """
        SELECT c.relname, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p', 'i')""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
    "indexes": """
        SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relnamespace = 'public'::regnamespace""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace""",
    "functions": """
        SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'""",
}


def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """The schema as data: equal snapshots mean an identical public schema."""
    with psycopg.connect(dsn) as conn:
        return {
            name: sorted(conn.execute(query).fetchall(), key=repr)
            for name, query in SNAPSHOT_QUERIES.items()
        }


def query(dsn: str, text: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(text, params or None).fetchall()
