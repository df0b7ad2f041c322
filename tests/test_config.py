"""Configuration: discovery, validation with file:line, URL precedence, redaction."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from expandctl.errors import ConfigError, ManifestError
from expandctl.loader.config import load_config
from expandctl.loader.migrations import load_migrations
from expandctl.model.durations import (
    PG_TIMEOUT_MAX_MS,
    format_duration,
    parse_duration,
    parse_pg_timeout,
    to_milliseconds,
)
from expandctl.model.redact import password_of, redact
from tests.conftest import PgDatabase


def test_defaults_without_a_config_file(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path, environ={})
    assert config.source is None
    assert config.settings.state_schema == "expandctl"
    assert config.settings.lock_timeout == timedelta(seconds=1)
    assert config.settings.pg_version == 15
    assert config.migrations_path == str(tmp_path.resolve() / "migrations")
    assert config.database_url is None


def test_pyproject_section_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.expandctl]\nmigrations_dir = "db/migrations"\n'
        'lock_timeout = "250ms"\npg_version = 16\n\n[tool.expandctl.lint]\nignore = ["style"]\n'
    )
    sub = tmp_path / "src" / "app"
    sub.mkdir(parents=True)
    config = load_config(cwd=sub, environ={})
    assert config.source == str(tmp_path / "pyproject.toml")
    assert config.migrations_path == str(tmp_path.resolve() / "db" / "migrations")
    assert config.settings.lock_timeout == timedelta(milliseconds=250)
    assert config.settings.pg_version == 16
    assert config.settings.lint.ignore == ["style"]


def test_expandctl_toml_wins_over_pyproject_in_the_same_folder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.expandctl]\nstate_schema = "from_pyproject"\n')
    (tmp_path / "expandctl.toml").write_text('state_schema = "from_expandctl_toml"\n')
    assert load_config(cwd=tmp_path, environ={}).settings.state_schema == "from_expandctl_toml"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('migrations_dir = "m"\nlock_timout = "1s"\n', "unknown key 'lock_timout'", 2),
        ("lock_timeout = 5\n", "unit", 1),
        ('migrations_dir = "m"\nindex_timeout = "forever"\n', "index_timeout", 2),
        ("index_timeout = 30\n", "unit", 1),
        ('pg_version = "fifteen"\n', "pg_version", 1),
        ('state_schema = "Bad-Name"\n', "state_schema", 1),
        ('[lint]\nseverity = { "locking" = "fatal" }\n', "lint.severity", 2),
    ],
)
def test_a_typo_is_an_error_naming_the_key_and_line(
    tmp_path: Path, text: str, message: str, line: int
) -> None:
    path = tmp_path / "expandctl.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={})
    assert message in caught.value.message
    assert caught.value.location == f"{path}:{line}"


def test_typo_in_pyproject_points_at_the_pyproject_line(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[tool.expandctl]\nstate_shema = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={})
    assert "unknown key 'state_shema'" in caught.value.message
    assert caught.value.line == 5


def test_index_timeout_defaults_to_no_limit_and_zero_needs_no_unit(tmp_path: Path) -> None:
    assert load_config(cwd=tmp_path, environ={}).settings.index_timeout == timedelta(0)
    (tmp_path / "expandctl.toml").write_text('index_timeout = "0"\n')
    assert load_config(cwd=tmp_path, environ={}).settings.index_timeout == timedelta(0)
    (tmp_path / "expandctl.toml").write_text('index_timeout = "6h"\nstatement_timeout = "1min"\n')
    settings = load_config(cwd=tmp_path, environ={}).settings
    assert (settings.index_timeout, settings.statement_timeout) == (
        timedelta(hours=6),
        timedelta(minutes=1),
    )


def test_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_path=tmp_path / "nope.toml", cwd=tmp_path, environ={})


def test_database_url_precedence(tmp_path: Path) -> None:
    (tmp_path / "expandctl.toml").write_text('database_url_env = "APP_DB"\n')
    env = {"APP_DB": "postgresql://app@h/appdb", "DATABASE_URL": "postgresql://ignored@h/x"}
    assert load_config(cwd=tmp_path, environ=env).database_url == "postgresql://app@h/appdb"
    env["EXPANDCTL_DATABASE_URL"] = "postgresql://override@h/db"
    assert load_config(cwd=tmp_path, environ=env).database_url == "postgresql://override@h/db"
    flagged = load_config(cwd=tmp_path, environ=env, database_url="postgresql://flag@h/db")
    assert flagged.database_url == "postgresql://flag@h/db"


def test_default_env_var_is_database_url(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://u@h/d"}
    assert load_config(cwd=tmp_path, environ=env).database_url == "postgresql://u@h/d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql://alice:s3cr%40t@db.example:5432/app",
            "postgresql://alice:********@db.example:5432/app",
        ),
        (
            "connecting to host=db password=hunter2 user=x",
            "connecting to host=db password=******** user=x",
        ),
        ("password='a b c' dbname=x", "password=******** dbname=x"),
        ("postgresql://alice@db/app", "postgresql://alice@db/app"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_scrubs_a_known_secret_anywhere() -> None:
    dsn = "postgresql://alice:topsecret@db/app"
    assert password_of(dsn) == "topsecret"
    assert "topsecret" not in redact("FATAL: password 'topsecret' rejected", password_of(dsn))
    assert password_of("host=db password=pw1 user=u") == "pw1"


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("1s", 1000), ("1.5s", 1500), ("10min", 600_000), ("2h", 7_200_000)],
)
def test_durations_round_trip(text: str, ms: int) -> None:
    value = parse_duration(text)
    assert value == timedelta(milliseconds=ms)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("bad", ["10", "1 fortnight", "", 5, True])
def test_durations_need_a_unit(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("tiny", ["0.4ms", "0.0001s"])
def test_durations_below_a_millisecond_are_refused_not_turned_into_no_limit(tiny: str) -> None:
    with pytest.raises(ValueError, match="below 1ms"):
        parse_duration(tiny)
    assert parse_duration("0ms") == timedelta(0)  # an explicit 0 still means no limit


def test_redact_masks_sql_password_literals() -> None:
    query = "ALTER ROLE app PASSWORD 'it''s s3cret' VALID UNTIL 'infinity'"
    assert redact(query) == "ALTER ROLE app PASSWORD '********' VALID UNTIL 'infinity'"


# --- Durations bounded by what PostgreSQL accepts; config files read like the loader --


@pytest.mark.parametrize("key", ["lock_timeout", "statement_timeout", "index_timeout"])
@pytest.mark.parametrize("value", ["25d", "1000000000d", "2147483648ms", "9" * 400 + "d"])
def test_a_timeout_postgresql_would_refuse_is_refused_with_the_limit(
    tmp_path: Path, key: str, value: str
) -> None:
    (tmp_path / "expandctl.toml").write_text(f'migrations_dir = "m"\n{key} = "{value}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path, environ={})
    assert caught.value.line == 2
    assert f"{key}: duration" in caught.value.message
    assert "at most 2147483647ms (about 24.8 days)" in caught.value.message


def test_the_timeout_limit_is_the_one_postgresql_enforces(pg_database: PgDatabase) -> None:
    top = parse_pg_timeout(f"{PG_TIMEOUT_MAX_MS}ms")
    assert parse_pg_timeout("24d") == timedelta(days=24)
    with pg_database.connect() as conn:
        conn.execute(f"SET lock_timeout = '{to_milliseconds(top)}ms'")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute(f"SET lock_timeout = '{PG_TIMEOUT_MAX_MS + 1}ms'")
    with pytest.raises(ValueError, match="at most 2147483647ms"):
        parse_pg_timeout(f"{PG_TIMEOUT_MAX_MS + 1}ms")


@pytest.mark.parametrize("value", ["1000000000d", "36501d", "9" * 400 + "d"])
def test_other_durations_are_bounded_not_an_overflow(value: str) -> None:
    with pytest.raises(ValueError, match=r"is too long: at most 36500d"):
        parse_duration(value)
    assert parse_duration("36500d") == timedelta(days=36500)


def test_min_soak_and_backfill_timeouts_in_a_manifest_are_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "0001_x"
    folder.mkdir()
    manifest = folder / "migration.toml"
    manifest.write_text('description = "x"\n[gates.contract]\nmin_soak = "1000000000d"\n')
    with pytest.raises(ManifestError, match=r"gates\.contract\.min_soak: duration") as caught:
        load_migrations(tmp_path)
    assert caught.value.line == 3
    manifest.write_text(
        'description = "x"\n[backfill]\ntable = "t"\nset = { a = "1" }\nwhere = "a IS NULL"\n'
        'lock_timeout = "25d"\n'
    )
    with pytest.raises(ManifestError, match="at most 2147483647ms") as caught:
        load_migrations(tmp_path)
    assert caught.value.line == 6


def test_a_config_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "expandctl.toml"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            load_config(config_path=fifo, environ={})
        except BaseException as exc:  # the test inspects it
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert outcome, "reading the config blocked on a FIFO"
    assert isinstance(outcome[0], ConfigError)
    assert "is not a regular file (it is a FIFO)" in outcome[0].message


def test_a_config_with_a_bom_loads_and_a_control_character_is_refused(tmp_path: Path) -> None:
    config_file = tmp_path / "expandctl.toml"
    config_file.write_bytes(b'\xef\xbb\xbflock_timeout = "2s"\n')
    assert load_config(cwd=tmp_path, environ={}).settings.lock_timeout == timedelta(seconds=2)
    config_file.write_bytes(b'lock_timeout = "2s"\nmigrations_dir = "m\\u0000"\n')
    with pytest.raises(ConfigError, match=r"migrations_dir: control character U\+0000") as caught:
        load_config(cwd=tmp_path, environ={})
    assert caught.value.line == 2


def test_a_pyproject_that_is_not_utf8_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b"[tool.expandctl]\nname = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(cwd=tmp_path, environ={})
