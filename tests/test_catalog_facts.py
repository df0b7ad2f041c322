"""rename_column / change_column_type read what the catalog knows about the old column
(type, NOT NULL, uniqueness, index, default) when the manifest leaves it out, and
refuse at plan time a stated fact the catalog contradicts, naming both values."""

from __future__ import annotations

from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

from expandctl.cli import cli
from expandctl.loader.migrations import load_migration
from expandctl.model.facts import with_catalog_facts
from expandctl.model.ops.column_facts import CatalogFacts, ColumnFacts
from expandctl.model.phases import Phase
from expandctl.model.planning import plan_phase
from expandctl.model.steps import SqlStep
from tests.conftest import PgDatabase
from tests.operations.support import (
    MIGRATION_ID,
    Raw,
    forward_rollback_forward,
    manifest,
    operation_project,
    query,
)

SCHEMA = """
CREATE TABLE items (
    id bigint PRIMARY KEY,
    code varchar(20) NOT NULL DEFAULT 'x',
    tag text,
    qty integer NOT NULL
);
CREATE UNIQUE INDEX items_code_key ON items (code);
CREATE INDEX items_tag_idx ON items (tag);
INSERT INTO items SELECT g, 'c' || g, 't' || (g % 3), g FROM generate_series(1, 50) AS g;
"""
RENAME_CODE: Raw = {"op": "rename_column", "table": "items", "column": "code", "to": "sku"}
RENAME_TAG: Raw = {"op": "rename_column", "table": "items", "column": "tag", "to": "label"}
WIDEN_QTY: Raw = {
    "op": "change_column_type",
    "table": "items",
    "column": "qty",
    "to": "qty_big",
    "type": "bigint",
    "down": "CAST(qty_big AS integer)",
}


def setup(db: PgDatabase) -> None:
    with db.connect() as conn:
        conn.execute(SCHEMA)


def columns(db: PgDatabase) -> dict[str, tuple[object, ...]]:
    rows = query(
        db.dsn,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        " pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = 'items'::regclass AND a.attnum > 0 AND NOT a.attisdropped",
    )
    return {str(r[0]): r[1:] for r in rows}


def indexes(db: PgDatabase) -> set[str]:
    rows = query(db.dsn, "SELECT indexdef FROM pg_indexes WHERE tablename = 'items'")
    return {str(r[0]).split(" ON ")[0] + " " + str(r[0]).split("USING btree ")[1] for r in rows}


@pytest.mark.db
def test_omitted_facts_come_from_the_catalog_through_every_phase(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    """No type, not_null, unique, index or default stated: forward, rollback of each
    phase and forward again, then the new columns are what the old ones were."""
    setup(pg_database)
    config = operation_project(tmp_path, pg_database, [RENAME_CODE, RENAME_TAG, WIDEN_QTY])
    forward_rollback_forward(config, pg_database.dsn)
    found = columns(pg_database)
    assert set(found) == {"id", "sku", "label", "qty_big"}
    assert found["sku"] == ("character varying(20)", True, "'x'::character varying")
    assert found["label"] == ("text", False, None)
    assert found["qty_big"] == ("bigint", True, None)
    made = indexes(pg_database)
    assert any(i.startswith("CREATE UNIQUE INDEX") and i.endswith("(sku)") for i in made)
    assert any(i.startswith("CREATE INDEX") and i.endswith("(label)") for i in made)
    assert query(pg_database.dsn, "SELECT sku, label, qty_big FROM items WHERE id = 4") == [
        ("c4", "t1", 4)
    ]


def plan_cli(runner: CliRunner, root: Path, db: PgDatabase) -> click.testing.Result:
    return runner.invoke(
        cli, ["--database-url", db.url, "--config", str(root / "expandctl.toml"), "plan"]
    )


@pytest.mark.db
@pytest.mark.parametrize(
    ("stated", "message"),
    [
        (
            {"type": "integer"},
            "operation 1 (rename_column): type = 'integer' in migration.toml,"
            " but items.code is character varying(20) in the database",
        ),
        (
            {"not_null": False},
            "operation 1 (rename_column): not_null = false in migration.toml,"
            " but items.code is NOT NULL in the database",
        ),
        (
            {"unique": False},
            "unique = false in migration.toml, but items.code is unique (it has a one-column"
            " unique index) in the database",
        ),
        ({"index": True}, "index = true in migration.toml, but items.code is not indexed"),
        ({"type": "no_such_type"}, "type = 'no_such_type' in migration.toml is not a type"),
    ],
)
def test_a_stated_fact_the_catalog_contradicts_is_refused_at_plan_time(
    runner: CliRunner, pg_database: PgDatabase, tmp_path: Path, stated: Raw, message: str
) -> None:
    setup(pg_database)
    operation_project(tmp_path, pg_database, [{**RENAME_CODE, **stated}])
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    result = plan_cli(runner, tmp_path, pg_database)
    assert result.exit_code == 4, result.output
    assert message in result.output
    assert "leave" in result.output  # and what to do


@pytest.mark.db
@pytest.mark.parametrize(
    "stated",
    [
        {"type": "varchar(20)"},
        {"type": "character varying"},  # modifiers aside, as the expand check compares
        {"not_null": True, "unique": True, "index": False, "default": "'x'"},
    ],
)
def test_a_stated_fact_the_catalog_agrees_with_plans(
    runner: CliRunner, pg_database: PgDatabase, tmp_path: Path, stated: Raw
) -> None:
    setup(pg_database)
    operation_project(tmp_path, pg_database, [{**RENAME_CODE, **stated}])
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    result = plan_cli(runner, tmp_path, pg_database)
    assert result.exit_code == 0, result.output
    assert 'ADD COLUMN "sku"' in result.output


def test_lint_and_offline_plan_treat_omitted_facts_as_unknown(
    runner: CliRunner, tmp_path: Path
) -> None:
    """No database: nothing crashes, nothing is flagged, the SQL says what it lacks."""
    folder = tmp_path / "migrations" / MIGRATION_ID
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text(manifest([RENAME_CODE, WIDEN_QTY]))
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    config = ["--config", str(tmp_path / "expandctl.toml")]
    lint = runner.invoke(cli, [*config, "lint"])
    assert lint.exit_code == 0, lint.output
    assert "0 errors, 0 warnings" in lint.output
    for phase in Phase:
        result = runner.invoke(cli, [*config, "plan", "0042", "--phase", phase.value])
        assert result.exit_code == 0, result.output
    expand = runner.invoke(cli, [*config, "plan", "0042", "--phase", "expand"])
    assert '"<type of items.code: read from the database>"' in expand.output


def test_the_default_moved_by_expand_is_found_on_the_new_column(tmp_path: Path) -> None:
    """After expand the old column has no default (it moved): rolling expand back must
    still restore it, so it is read from the new column."""
    folder = tmp_path / MIGRATION_ID
    folder.mkdir()
    (folder / "migration.toml").write_text(manifest([RENAME_CODE]))
    migration = load_migration(folder)
    old = ColumnFacts("character varying(20)", "character varying", True, None, True, False)
    new = ColumnFacts("character varying(20)", "character varying", False, "'x'", False, False)
    facts = CatalogFacts(
        columns={(None, "items", "code"): old, (None, "items", "sku"): new}, types={}
    )
    filled, conflicts = with_catalog_facts(migration, facts)
    assert conflicts == []
    undo = plan_phase(filled, Phase.EXPAND, rollback=True)
    text = " ".join(s.sql for s in undo.steps if isinstance(s, SqlStep))
    assert "ALTER COLUMN \"code\" SET DEFAULT 'x'" in text
