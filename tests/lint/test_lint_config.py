"""``expandctl lint`` reads the configuration without pydantic when it is plainly
valid, and is exactly as strict as every other command: for each file below,
``load_lint_config`` gives what ``load_config`` gives, or the very same error."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandctl.errors import ConfigError
from expandctl.loader.config import load_config, load_lint_config
from expandctl.loader.config_check import LINT_KEYS, SETTINGS_KEYS, plainly_valid
from expandctl.model.config import LintSettings, Settings
from expandctl.model.lint_config import LintConfig


def test_the_plain_check_knows_exactly_the_models_keys() -> None:
    assert set(SETTINGS_KEYS) == set(Settings.model_fields)
    assert set(LINT_KEYS) == set(LintSettings.model_fields)


# (file name, text, read without pydantic?)
CASES = [
    ("expandctl.toml", "", True),
    ("expandctl.toml", 'migrations_dir = "db"\npg_version = 16\nlock_retries = 0\n', True),
    (
        "expandctl.toml",
        'database_url = "postgresql://x"\ndatabase_url_env = "DB"\nstate_schema = "ec_1"\n'
        '[lint]\nselect = ["all"]\nignore = ["style", "L101"]\n'
        'severity = { C201 = "warning", L102 = "off", locking = "error" }\n',
        True,
    ),
    ("pyproject.toml", '[project]\nname = "x"\n[tool.expandctl]\npg_version = 11\n', True),
    ("pyproject.toml", '[tool.expandctl.lint]\nignore = ["L101"]\n', True),
    ("expandctl.toml", "pg_version = 30\nlock_retries = 100\n", True),
    # durations: only the model parses them
    ("expandctl.toml", 'lock_timeout = "2s"\nindex_timeout = 0\n', False),
    ("expandctl.toml", 'statement_timeout = "0"\n', False),
    ("expandctl.toml", "advisory_lock_wait = 5\n", False),
    # values pydantic converts: the model decides, and accepts them
    ("expandctl.toml", 'lock_retries = "8"\npg_version = 14.0\n', False),
    # wrong: the model's error, file:line and all
    ("expandctl.toml", 'pg_version = 14\nlock_timout = "1s"\n', False),
    ("expandctl.toml", 'pg_version = "fifteen"\n', False),
    ("expandctl.toml", "pg_version = 10\n", False),
    ("expandctl.toml", "pg_version = 31\n", False),
    ("expandctl.toml", "pg_version = true\n", False),
    ("expandctl.toml", "lock_retries = 101\n", False),
    ("expandctl.toml", "lock_retries = -1\n", False),
    ("expandctl.toml", 'state_schema = "Bad-Name"\n', False),
    ("expandctl.toml", "database_url = 5\n", False),
    ("expandctl.toml", "migrations_dir = [1]\n", False),
    ("expandctl.toml", '[lint]\nselekt = ["all"]\n', False),
    ("expandctl.toml", '[lint]\nselect = "all"\n', False),
    ("expandctl.toml", "[lint]\nignore = [1]\n", False),
    ("expandctl.toml", '[lint]\nseverity = { L101 = "fatal" }\n', False),
    ("expandctl.toml", '[lint]\nseverity = "error"\n', False),
    ("expandctl.toml", "lint = 3\n", False),
    ("pyproject.toml", '[tool.expandctl]\nmigrations_dir = "m"\nbogus = 1\n', False),
    ("pyproject.toml", "[tool.expandctl.lint]\nignore = [1]\n", False),
    # refused before validation, by both
    ("expandctl.toml", 'database_url = "a\\u0001b"\n', None),
    ("expandctl.toml", "pg_version = = 3\n", None),
    ("expandctl.toml", "a = " + "[" * 20 + "1" + "]" * 20 + "\n", None),
    ("pyproject.toml", "[tool]\nexpandctl = 3\n[tool.expandctl-x]\n", None),
]


@pytest.mark.parametrize(("name", "text", "plain"), CASES)
def test_lint_reads_a_config_as_load_config_does(
    tmp_path: Path, name: str, text: str, plain: bool | None
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    try:
        expected: LintConfig | ConfigError = load_config(cwd=tmp_path, environ={}).for_lint()
    except ConfigError as error:
        expected = error
    try:
        got: LintConfig | ConfigError = load_lint_config(cwd=tmp_path)
    except ConfigError as error:
        got = error
    if isinstance(expected, ConfigError):
        assert isinstance(got, ConfigError), got
        assert (got.message, got.location, got.hint) == (
            expected.message,
            expected.location,
            expected.hint,
        )
    else:
        assert got == expected
    if plain is not None:  # which way it went: the pydantic-free path is really taken
        import tomllib

        data = tomllib.loads(text)
        section = data.get("tool", {}).get("expandctl", {}) if name == "pyproject.toml" else data
        assert (plainly_valid(section) is not None) is plain


def test_no_config_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_lint_config(cwd=tmp_path) == load_config(cwd=tmp_path, environ={}).for_lint()
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist"):
        load_lint_config(config_path=missing, cwd=tmp_path)
