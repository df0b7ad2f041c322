"""The migration loader: good folders load; each bad input is one error with file:line."""

from __future__ import annotations

import os
import threading
import typing
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from expandctl.cli import cli
from expandctl.errors import ConfigError, ManifestError
from expandctl.loader.migrations import load_migrations
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind
from expandctl.model.sql_quote import object_name, quote_ident, quote_literal
from tests.conftest import PgDatabase

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
        ({"migration.toml": 'description = "x"\n\n[[operations]]\nop = "explode"\n'}, "explode", 4),
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


# --- Inputs validated at the door (issue 11, item 3) ---------------------------------


def _one_migration(tmp_path: Path, manifest: str, **files: bytes) -> Path:
    folder = tmp_path / "0001_x"
    folder.mkdir()
    (folder / "migration.toml").write_text(manifest, encoding="utf-8")
    for name, raw in files.items():
        (folder / name.replace("_", ".")).write_bytes(raw)
    return folder


def _add_column(field_lines: str) -> str:
    return 'description = "x"\n\n[[operations]]\nop = "add_column"\ntable = "users"\n' + field_lines


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\x0c", "\x85"])
def test_a_control_character_in_a_phase_file_is_refused_with_its_line(
    tmp_path: Path, char: str
) -> None:
    sql = f"CREATE TABLE t (id int);\nUPDATE t SET id = 0{char} WHERE id = 3;\n"
    _one_migration(tmp_path, 'description = "x"\n', expand_sql=sql.encode())
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    assert caught.value.line == 2
    assert f"U+{ord(char):04X}" in caught.value.message
    assert str(caught.value).endswith("(remove it; write it as an escape in SQL)")


def test_tabs_and_crlf_are_ordinary_text(tmp_path: Path) -> None:
    _one_migration(tmp_path, 'description = "x"\r\n', expand_sql=b"SELECT\t1;\r\nSELECT 2;\r")
    text = load_migrations(tmp_path).migrations[0].sql_files["expand.sql"].text
    assert text == "SELECT\t1;\nSELECT 2;\n"


@pytest.mark.parametrize(
    ("manifest", "line"),
    [
        (_add_column('column = "c"\ntype = "text"\ndefault = "1\\u0000 + 1"\n'), 8),
        ('description = "x"\n[gates.contract]\n"bad\\u0001key" = 1\n', 2),
        ('description = "tab\\tis fine"\nrequires = ["\\u0000"]\n', 2),
    ],
)
def test_a_control_character_escaped_in_a_manifest_string_is_refused(
    tmp_path: Path, manifest: str, line: int
) -> None:
    _one_migration(tmp_path, manifest)
    with pytest.raises(ManifestError, match=r"control character U\+000[01]") as caught:
        load_migrations(tmp_path)
    assert caught.value.line == line


def test_a_bom_is_dropped_from_phase_files_and_manifests(tmp_path: Path) -> None:
    folder = _one_migration(tmp_path, "", expand_sql=b"\xef\xbb\xbfCREATE TABLE t (id int);\n")
    (folder / "migration.toml").write_bytes(b'\xef\xbb\xbfdescription = "with a BOM"\n')
    migration = load_migrations(tmp_path).migrations[0]
    assert migration.manifest.description == "with a BOM"
    assert migration.sql_files["expand.sql"].text == "CREATE TABLE t (id int);\n"


def _loads_within(seconds: float, directory: Path) -> BaseException | None:
    """Load in a thread: a FIFO opened for reading would block it forever."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            load_migrations(directory)
            outcome.append(None)
        except BaseException as exc:  # the test inspects it
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, "loading blocked on a FIFO"
    return outcome[0]


@pytest.mark.parametrize("name", ["expand.sql", "migration.toml"])
def test_a_fifo_is_refused_without_being_opened(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "0001_x"
    folder.mkdir()
    if name != "migration.toml":
        (folder / "migration.toml").write_text('description = "x"\n')
    os.mkfifo(folder / name)
    error = _loads_within(10, tmp_path)
    assert isinstance(error, ManifestError)
    assert error.path == folder / name
    assert "is not a regular file (it is a FIFO)" in error.message


def test_absurd_nesting_in_a_manifest_is_refused_not_a_crash(tmp_path: Path) -> None:
    _one_migration(tmp_path, 'description = "x"\nrequires = ' + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(ManifestError, match="nested too deeply"):
        load_migrations(tmp_path)
    (tmp_path / "0001_x" / "migration.toml").write_text(
        'description = "x"\nrequires = ' + "[" * 40 + "]" * 40 + "\n"
    )
    with pytest.raises(ManifestError, match="nested more than 16 levels") as caught:
        load_migrations(tmp_path)
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ('column = "' + "c" * 64 + '"\ntype = "text"\n', 6),
        ('column = "' + "é" * 32 + '"\ntype = "text"\n', 6),  # 64 bytes in 32 characters
        ('column = "c"\ntype = "text"\nschema = "' + "s" * 70 + '"\n', 8),
    ],
)
def test_names_longer_than_postgresql_keeps_are_refused(
    tmp_path: Path, fields: str, line: int
) -> None:
    _one_migration(tmp_path, _add_column(fields))
    with pytest.raises(ManifestError, match=r"bytes; PostgreSQL keeps only 63") as caught:
        load_migrations(tmp_path)
    assert caught.value.line == line
    assert caught.value.hint == "use a shorter name"


def test_a_name_of_exactly_63_bytes_is_accepted(tmp_path: Path) -> None:
    _one_migration(tmp_path, _add_column('column = "' + "é" * 31 + 'a"\ntype = "text"\n'))
    assert load_migrations(tmp_path).ids == ["0001_x"]


def test_long_backfill_and_retires_names_are_refused(tmp_path: Path) -> None:
    long = "t" * 64
    _one_migration(
        tmp_path,
        f'description = "x"\n[backfill]\ntable = "public.{long}"\nset = {{ a = "1" }}\n'
        'where = "a IS NULL"\n',
    )
    with pytest.raises(ManifestError, match="PostgreSQL keeps only 63") as caught:
        load_migrations(tmp_path)
    assert caught.value.line == 3
    (tmp_path / "0001_x" / "migration.toml").write_text(
        f'description = "x"\nretires = ["users.{long}"]\n'
    )
    with pytest.raises(ManifestError, match="PostgreSQL keeps only 63"):
        load_migrations(tmp_path)


@pytest.mark.parametrize(
    ("fields", "key_line", "problem"),
    [
        ('column = "c"\ntype = "text, DROP COLUMN victim"\n', 7, "comma outside parentheses"),
        ('column = "c"\ntype = "text NOT NULL"\n', 7, "cannot be read as one SQL type"),
        ('column = "c"\ntype = "text DEFAULT 1"\n', 7, "followed by more"),
        ('column = "c"\ntype = "int)"\n', 7, "closes a parenthesis"),
        ('column = "c"\ntype = "text"\ndefault = "$$a$$, DROP COLUMN victim"\n', 8, "comma"),
        ('column = "c"\ntype = "text"\ndefault = "(1"\n', 8, "leaves a parenthesis"),
        ('column = "c"\ntype = "text"\ndefault = "SELECT 1"\n', 8, "is a statement"),
        ('column = "c"\ntype = "text"\nbackfill = "ELSE 1"\n', 8, "not one SQL expression"),
    ],
)
def test_sql_fields_must_be_exactly_one_type_or_expression(
    tmp_path: Path, fields: str, key_line: int, problem: str
) -> None:
    _one_migration(tmp_path, _add_column(fields))
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    assert problem in caught.value.message
    assert caught.value.line == key_line
    assert (caught.value.hint or "").startswith("write exactly one SQL")


def test_a_check_cannot_close_its_parenthesis(tmp_path: Path) -> None:
    _one_migration(
        tmp_path,
        'description = "x"\n[[operations]]\nop = "add_check"\ntable = "users"\nname = "c"\n'
        'check = "true) NOT VALID, DROP COLUMN victim, ADD CONSTRAINT zz CHECK (true"\n',
    )
    with pytest.raises(ManifestError, match="closes a parenthesis it did not open") as caught:
        load_migrations(tmp_path)
    assert caught.value.line == 6


def test_backfill_expressions_are_checked_too(tmp_path: Path) -> None:
    _one_migration(
        tmp_path,
        'description = "x"\n[backfill]\ntable = "users"\nset = { a = "1, b = 2" }\n'
        'where = "a IS NULL"\n',
    )
    with pytest.raises(ManifestError, match=r"backfill\.0\.set\.a: '1, b = 2' has a comma"):
        load_migrations(tmp_path)


@pytest.mark.parametrize(
    ("type_", "default"),
    [
        ("numeric(10,2)", "0.5"),
        ('"my type"', "NULL"),
        ('public."Mood"', "'happy'"),
        ("timestamp with time zone", "now() AT TIME ZONE 'utc'"),
        ("text[]", "'{}'::text[]"),
        ("varchar(20)", 'lower("Email")'),
        ("int", "(SELECT 1)"),
        ("int", "CASE WHEN x % 2 = 0 THEN 1 ELSE 2 END"),
        ("jsonb", "'{\"a\": [1, 2]}'"),
        ("geometry(Point,4326)", "NULL"),
    ],
)
def test_ordinary_types_and_expressions_are_accepted(
    tmp_path: Path, type_: str, default: str
) -> None:
    quoted_type = type_.replace('"', '\\"')
    quoted_default = default.replace('"', '\\"')
    _one_migration(
        tmp_path,
        _add_column(f'column = "My Col"\ntype = "{quoted_type}"\ndefault = "{quoted_default}"\n'),
    )
    op = load_migrations(tmp_path).migrations[0].manifest.operations[0]
    assert getattr(op, "type") == type_  # noqa: B009


def test_every_sql_field_of_every_operation_is_marked() -> None:
    """A new operation's ``type`` / expression fields are found without a list to update."""
    from expandctl.model.operations import Operation
    from expandctl.model.sql_slots import sql_slot_of

    kinds: dict[str, set[str]] = {}

    def collect(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            slot = sql_slot_of(field.annotation, field.metadata)
            kinds.setdefault(name, set()).add(slot.kind if slot else "name")
            for arg in typing.get_args(field.annotation) or (field.annotation,):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    collect(arg)

    for member in typing.get_args(typing.get_args(Operation)[0]):
        collect(member)
    assert kinds["type"] == {"type"}
    for expression in ("default", "check", "where", "up", "down", "backfill"):
        assert kinds[expression] == {"expression"}, expression
    assert kinds["expand"] == {"statements"}
    assert "expression" not in kinds["table"] | kinds["column"] | kinds["name"]


# --- End to end: what is refused at the door never reaches PostgreSQL ----------------


def _advance(root: Path, db: PgDatabase) -> click.testing.Result:
    return CliRunner().invoke(
        cli,
        ["--database-url", db.url, "--config", str(root / "expandctl.toml"), "advance", "0001_x"],
    )


def _columns(db: PgDatabase, table: str) -> list[str]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum",
            (table,),
        ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize(
    "operation",
    [
        'op = "add_column"\ntable = "users"\ncolumn = "c"\ntype = "text, DROP COLUMN victim"\n',
        'op = "add_column"\ntable = "users"\ncolumn = "c"\ntype = "text"\n'
        'default = "$$a$$, DROP COLUMN victim"\n',
        'op = "add_check"\ntable = "users"\nname = "c"\n'
        'check = "true) NOT VALID, DROP COLUMN victim, ADD CONSTRAINT zz CHECK (true"\n',
    ],
)
def test_a_field_breaking_out_of_its_slot_drops_nothing(
    tmp_path: Path, pg_database: PgDatabase, operation: str
) -> None:
    with pg_database.connect() as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, victim text)")
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    (tmp_path / "migrations").mkdir()
    _one_migration(tmp_path / "migrations", f'description = "x"\n\n[[operations]]\n{operation}')
    result = _advance(tmp_path, pg_database)
    assert result.exit_code == 2, result.output
    assert "write exactly one SQL" in result.output
    assert _columns(pg_database, "users") == ["id", "victim"]


def test_a_nul_in_a_phase_file_never_reaches_postgresql(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    """``UPDATE ... = 0<NUL> WHERE id = 3`` was cut at the NUL and updated every row."""
    with pg_database.connect() as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int)")
        conn.execute("INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 5) g")
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    (tmp_path / "migrations").mkdir()
    _one_migration(
        tmp_path / "migrations",
        'description = "x"\n',
        expand_sql=b"UPDATE accounts SET balance = 0\x00 WHERE id = 3;\n",
    )
    result = _advance(tmp_path, pg_database)
    assert result.exit_code == 2, result.output
    assert "expand.sql:1: column 32: control character U+0000 (NUL)" in result.output
    with pg_database.connect() as conn:
        balances = conn.execute("SELECT sum(balance) FROM accounts").fetchone()
    assert balances == (500,)


def test_a_bom_runs_the_same_statement_that_lint_and_plan_saw(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    (tmp_path / "migrations").mkdir()
    _one_migration(
        tmp_path / "migrations",
        'description = "x"\n',
        expand_sql=b"\xef\xbb\xbfCREATE TABLE t (id int);\n",
    )
    result = _advance(tmp_path, pg_database)
    assert result.exit_code == 0, result.output
    assert _columns(pg_database, "t") == ["id"]


def test_quote_literal_keeps_backslashes_whatever_the_server_setting(
    pg_database: PgDatabase,
) -> None:
    values = ["a\\b", "it's", "ends\\", "\\'", "%s %% %(x)s"]
    with pg_database.connect() as conn:
        for setting in ("on", "off"):
            conn.execute(f"SET standard_conforming_strings = {setting}")
            for value in values:
                assert conn.execute("SELECT " + quote_literal(value)).fetchone() == (value,)


def test_generated_names_fit_and_never_collide(pg_database: PgDatabase) -> None:
    long_a = "a" * 60 + "_one"
    long_b = "a" * 60 + "_two"
    names = [object_name("expandctl", "0001", t, "sync") for t in (long_a, long_b)]
    assert names[0] != names[1]
    assert all(len(n.encode()) <= 63 for n in names)
    assert names == [object_name("expandctl", "0001", t, "sync") for t in (long_a, long_b)]
    with pg_database.connect() as conn:
        for name in names:
            conn.execute(f"CREATE TABLE {quote_ident(name)} ()")
        stored = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) ORDER BY relname", (names,)
        ).fetchall()
    assert sorted(names) == [r[0] for r in stored]


# --- every problem at once, with suggestions (issue 15) ------------------------------


def test_every_problem_of_a_manifest_is_shown_each_with_its_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = write(
        tmp_path / "migrations" / "0001_x",
        {
            "migration.toml": 'description = "x"\nrequirs = []\n\n[[operations]]\n'
            'op = "drop_column"\ntable = "<TABLE>"\ncolum = "name"\n'
        },
    )
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path / "migrations")
    rendered = str(caught.value).splitlines()
    path = folder / "migration.toml"
    assert rendered == [
        f"{path}:2: unknown key 'requirs' (did you mean 'requires'?)",
        f"{path}:6: table is still the placeholder '<TABLE>' written by `expandctl new`;"
        " fill it in",
        f"{path}:7: unknown key 'operations.0.colum' (did you mean 'column'?)",
    ]
    # the typo explains the missing key: "missing required key 'column'" is not repeated
    assert "missing" not in str(caught.value)
    assert caught.value.line == 2
    (tmp_path / "expandctl.toml").write_text('migrations_dir = "migrations"\n')
    result = runner.invoke(cli, ["--config", str(tmp_path / "expandctl.toml"), "lint"])
    assert result.exit_code == 2
    assert result.output.count("migration.toml:") == 3


@pytest.mark.parametrize(
    ("operation", "expected", "line"),
    [
        (
            'op = "rename_colum"',
            "operations.0.op: unknown operation 'rename_colum' (did you mean 'rename_column'?"
            " known: create_table, add_column, rename_column,",
            4,
        ),
        ('op = "explode"', "operations.0.op: unknown operation 'explode' (known: create_", 4),
        ('table = "users"', "operations.0: missing required key 'op' (one of: create_table,", 3),
    ],
)
def test_an_unknown_or_missing_op_lists_the_operations(
    tmp_path: Path, operation: str, expected: str, line: int
) -> None:
    write(
        tmp_path / "0001_x",
        {"migration.toml": f'description = "x"\n\n[[operations]]\n{operation}\n'},
    )
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    assert caught.value.message.startswith(expected)
    assert "Input tag" not in caught.value.message
    assert caught.value.line == line


def test_did_you_mean_reaches_backfill_and_gates(tmp_path: Path) -> None:
    write(
        tmp_path / "0001_x",
        {
            "migration.toml": 'description = "x"\n\n[backfill]\ntable = "t"\n'
            'set = { a = "1" }\nwher = "a IS NULL"\n\n[gates.contract]\nmin_sok = "1h"\n'
        },
    )
    with pytest.raises(ManifestError) as caught:
        load_migrations(tmp_path)
    lines = str(caught.value).splitlines()
    assert lines[0].endswith(":6: unknown key 'backfill.0.wher' (did you mean 'where'?)")
    assert lines[1].endswith(":9: unknown key 'gates.contract.min_sok' (did you mean 'min_soak'?)")
