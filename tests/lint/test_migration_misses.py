"""Misses that only show across the phase files of one migration (issue #12)."""

from __future__ import annotations

from pathlib import Path

from expandctl.lint import lint_migration
from expandctl.loader.migrations import load_migration


def _findings(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    folder = tmp_path / "0001_demo"
    folder.mkdir()
    (folder / "migration.toml").write_text('description = "x"\n', encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    results = lint_migration(load_migration(folder))
    return [(Path(r.path).name, f.rule_id) for r in results for f in r.findings]


def test_set_not_null_on_a_column_expand_added_to_an_existing_table(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        {
            "expand.sql": "ALTER TABLE users ADD COLUMN tenant text;\n",
            "switch-reads.sql": "ALTER TABLE users ALTER COLUMN tenant SET NOT NULL;\n",
        },
    )
    assert found == [("switch-reads.sql", "L106")]


def test_set_not_null_on_a_column_of_a_table_expand_created(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        {
            "expand.sql": "CREATE TABLE tenants (id bigint PRIMARY KEY);\n"
            "ALTER TABLE tenants ADD COLUMN name text;\n",
            "switch-reads.sql": "ALTER TABLE tenants ALTER COLUMN name SET NOT NULL;\n",
        },
    )
    assert found == []


def test_type_change_of_a_column_expand_added_to_an_existing_table(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        {
            "expand.sql": "ALTER TABLE users ADD COLUMN score int;\n",
            "switch-reads.sql": "ALTER TABLE users ALTER COLUMN score TYPE bigint;\n",
        },
    )
    assert ("switch-reads.sql", "L107") in found


def test_a_table_renamed_in_expand_is_not_new_in_switch_reads(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        {
            "expand.sql": "-- expandctl-ignore: C205 demo\nALTER TABLE users RENAME TO accounts;\n",
            "switch-reads.sql": "CREATE INDEX accounts_email_idx ON accounts (email);\n",
        },
    )
    assert found == [("switch-reads.sql", "L101")]
