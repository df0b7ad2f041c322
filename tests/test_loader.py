"""The migration loader: good folders load; each bad input is one error with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandctl.errors import ConfigError, ManifestError
from expandctl.loader.migrations import load_migrations
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind

PROJECT_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_example_migrations_load_in_order() -> None:
    loaded = load_migrations(PROJECT_MIGRATIONS)
    assert loaded.ids[:2] == ["0001_create_users", "0002_add_users_nickname"]
    assert [m.number for m in loaded.migrations] == sorted(m.number for m in loaded.migrations)
    first = loaded.migrations[0]
    assert first.forward_sql(Phase.EXPAND) is not None
    assert "CREATE TABLE users" in first.forward_sql(Phase.EXPAND).text  # type: ignore[union-attr]
    assert first.rollback_sql(Phase.EXPAND) is not None


def test_full_manifest_is_parsed(tmp_path: Path) -> None:
    write(tmp_path / "0001_base", {"migration.toml": 'description = "base"\n'})
    write(
        tmp_path / "0002_rename",
        {
            "migration.toml": """\
description = "Normalise emails"
requires = ["0001_base"]
retires = ["users.email", "legacy_users", "index:users_email_idx"]

[[backfill]]
table = "users"
set = { email_norm = "lower(email)" }
where = "email_norm IS DISTINCT FROM lower(email)"
batch_size = 500

[gates.contract]
min_soak = "24h"
sql = "SELECT true"
""",
            "expand.sql": "ALTER TABLE users ADD COLUMN email_norm text;\n",
            "notes.md": "free-form notes are ignored\n",
        },
    )
    migration = load_migrations(tmp_path).migrations[1]
    manifest = migration.manifest
    assert manifest.requires == ["0001_base"]
    assert [(r.kind, r.name) for r in manifest.retires] == [
        (ObjectKind.COLUMN, "users.email"),
        (ObjectKind.TABLE, "legacy_users"),
        (ObjectKind.INDEX, "users_email_idx"),
    ]
    assert manifest.backfill[0].set == {"email_norm": "lower(email)"}
    assert manifest.backfill[0].batch_size == 500
    assert manifest.gates[Phase.CONTRACT].min_soak is not None
    assert manifest.gates[Phase.CONTRACT].min_soak.total_seconds() == 24 * 3600
    assert set(migration.sql_files) == {"expand.sql"}


def test_checksums_change_only_for_the_phase_that_changed(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "0001_a",
        {"migration.toml": 'description = "a"\n', "expand.sql": "SELECT 1;\n"},
    )
    before = load_migrations(tmp_path).migrations[0]
    (folder / "migration.toml").write_text('description = "a, reworded"\n')
    reworded = load_migrations(tmp_path).migrations[0]
    assert reworded.phase_checksums == before.phase_checksums
    assert reworded.checksum != before.checksum
    (folder / "expand.sql").write_text("SELECT 2;\n")
    edited = load_migrations(tmp_path).migrations[0]
    assert edited.phase_checksums[Phase.EXPAND] != before.phase_checksums[Phase.EXPAND]
    assert edited.phase_checksums[Phase.CONTRACT] == before.phase_checksums[Phase.CONTRACT]


@pytest.mark.parametrize(
    ("files", "message", "line"),
    [
        ({"migration.toml": 'description = "x"\ncolour = "red"\n'}, "unknown key 'colour'", 2),
        (
            {
                "migration.toml": 'description = "x"\n\n[backfill]\ntable = "t"\nset = {a = "1"}\n'
                'where = "true"\nbatch_size = -5\n'
            },
            "backfill.0.batch_size",
            7,
        ),
        ({"migration.toml": 'description = "x"\nrequires = "0001_a"\n'}, "requires", 2),
        ({"migration.toml": "requires = []\n"}, "missing required key 'description'", None),
        ({"migration.toml": 'description = "x"\n[gates.contract]\nmin_soak = 10\n'}, "unit", 3),
        (
            {"migration.toml": 'description = "x"\n[gates.launch]\nsql = "select true"\n'},
            "gates",
            2,
        ),
        (
            {"migration.toml": 'description = "x"\nretires = ["bogus:thing"]\n'},
            "unknown object kind",
            2,
        ),
        ({"migration.toml": 'description = "x"\n\n[[operations]]\nop = "explode"\n'}, "explode", 3),
        ({"migration.toml": 'description = "x\n'}, "invalid TOML", 1),
        (
            {"migration.toml": 'description = "x"\n', "expnd.sql": "SELECT 1;"},
            "unexpected file 'expnd.sql'",
            None,
        ),
        (
            {"migration.toml": 'description = "x"\n', "contract.down.sql": ""},
            "unexpected file",
            None,
        ),
        ({"expand.sql": "SELECT 1;"}, "missing migration.toml", None),
        ({}, "migration folder is empty", None),
    ],
)
def test_bad_manifests_are_reported_with_file_and_line(
    tmp_path: Path, files: dict[str, str], message: str, line: int | None
) -> None:
    write(tmp_path / "0001_bad", files)
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    error = caught.value
    assert message in error.message
    assert error.path is not None and "0001_bad" in str(error.path)
    assert error.line == line
    rendered = str(error)
    assert rendered.count("\n") == 0
    if line:
        assert f"migration.toml:{line}:" in rendered


def test_duplicate_numbers_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "0003_one", {"migration.toml": 'description = "one"\n'})
    write(tmp_path / "0003_two", {"migration.toml": 'description = "two"\n'})
    with pytest.raises(
        ManifestError, match="duplicate migration number 0003: also used by 0003_one"
    ):
        load_migrations(tmp_path)


def test_badly_named_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "add_users", {"migration.toml": 'description = "x"\n'})
    with pytest.raises(ManifestError, match="is not NNNN_slug"):
        load_migrations(tmp_path)


@pytest.mark.parametrize(
    ("requires", "message"),
    [
        ("0009_missing", "not in the migrations directory"),
        ("0002_later", "comes later"),
        ("0001_first", "comes later (or is this migration)"),
    ],
)
def test_requires_must_name_an_earlier_migration(
    tmp_path: Path, requires: str, message: str
) -> None:
    write(
        tmp_path / "0001_first",
        {"migration.toml": f'description = "first"\n\nrequires = ["{requires}"]\n'},
    )
    write(tmp_path / "0002_later", {"migration.toml": 'description = "later"\n'})
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    assert message in caught.value.message
    assert caught.value.line == 3


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_migrations(tmp_path / "nowhere")


def test_hidden_and_underscore_folders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "0001_a", {"migration.toml": 'description = "a"\n'})
    write(tmp_path / ".scratch", {"junk": "x"})
    write(tmp_path / "__pycache__", {"junk": "x"})
    assert load_migrations(tmp_path).ids == ["0001_a"]


def test_toml_left_open_at_the_end_points_at_the_last_line(tmp_path: Path) -> None:
    write(tmp_path / "0001_open", {"migration.toml": 'description = "x"\nrequires = [\n'})
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    assert caught.value.line == 2
    assert "invalid TOML" in caught.value.message
    assert "end of document" not in caught.value.message


def test_operation_errors_name_the_field_and_prefer_unknown_keys(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "0001_op",
        {
            "migration.toml": 'description = "x"\n\n[[operations]]\nop = "rename_column"\n'
            'table = "users"\ncolumn = "name"\ntoo = "full_name"\n'
        },
    )
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    assert caught.value.message.startswith("unknown key 'operations.0.too'")
    assert caught.value.line == 7
    (folder / "migration.toml").write_text(
        'description = "x"\n\n[[operations]]\nop = "rename_column"\n'
        'table = "users"\ncolumn = "name"\nto = 5\n'
    )
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    assert caught.value.message.startswith("operations.0.to: ")
    assert caught.value.line == 7
