"""Find and validate configuration; resolve the database URL.

Precedence for the URL: ``--database-url`` > ``EXPANDCTL_DATABASE_URL`` >
``database_url`` in the config > the env var named by ``database_url_env``
(default ``DATABASE_URL``). ``--embedded`` overrides a URL from the environment
or the config (with a warning naming it) and refuses one from ``--database-url``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expandctl.errors import ConfigError
from expandctl.loader.config_check import options_of, plainly_valid
from expandctl.loader.files import read_text_file
from expandctl.loader.toml_data import check_data, load_toml
from expandctl.loader.toml_lines import key_lines, line_of
from expandctl.model.lint_config import DEFAULT_MIGRATIONS_DIR, LintConfig, migrations_path
from expandctl.model.redact import where

if TYPE_CHECKING:  # pydantic: imported when a whole config is loaded, never by lint
    from expandctl.model.config import ResolvedConfig, Settings

log = logging.getLogger("expandctl")

CONFIG_FILE = "expandctl.toml"
PYPROJECT = "pyproject.toml"


def find_config_file(start: Path) -> Path | None:
    """The nearest expandctl.toml, or pyproject.toml with [tool.expandctl], upwards."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT
        if pyproject.is_file() and "[tool.expandctl" in read_text_file(pyproject, ConfigError)[1]:
            return pyproject
    return None


def load_config(
    *,
    config_path: Path | None = None,
    cwd: Path | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    embedded: bool = False,
) -> ResolvedConfig:
    from expandctl.model.config import ResolvedConfig, Settings

    env = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    if config_path is not None and not config_path.exists():
        raise ConfigError(f"config file {config_path} does not exist")
    source = config_path or find_config_file(cwd)
    settings = _read_settings(source) if source else Settings()
    root = source.parent if source else cwd
    url, named_by = _url_and_source(database_url, env, settings)
    if embedded and url:
        _embedded_wins(named_by, url)
    return ResolvedConfig(
        settings=settings,
        project_root=str(root.resolve()),
        source=str(source) if source else None,
        database_url=url or None,
        embedded=embedded,
    )


def load_lint_config(*, config_path: Path | None = None, cwd: Path | None = None) -> LintConfig:
    """What ``expandctl lint`` needs of the configuration, as ``load_config`` would
    load it, with the same errors: without pydantic when the file is plainly
    valid (``config_check``), else validated by ``Settings`` as always."""
    cwd = cwd or Path.cwd()
    if config_path is not None and not config_path.exists():
        raise ConfigError(f"config file {config_path} does not exist")
    source = config_path or find_config_file(cwd)
    root = str((source.parent if source else cwd).resolve())
    if source is None:
        return LintConfig(migrations_path=migrations_path(DEFAULT_MIGRATIONS_DIR, root))
    text, section, prefix = _read_section(source)
    plain = plainly_valid(section)
    if plain is not None:
        migrations_dir, pg_version, options = plain
        return LintConfig(migrations_path(migrations_dir, root), pg_version, options)
    settings = _validate(section, source, text, prefix)  # pydantic: says what is wrong
    lint = settings.lint
    return LintConfig(
        migrations_path(settings.migrations_dir, root),
        settings.pg_version,
        options_of(lint.select, lint.ignore, lint.severity),
    )


def _url_and_source(
    flag: str | None, env: Mapping[str, str], settings: Settings
) -> tuple[str | None, str]:
    """The URL in force and what set it, in precedence order."""
    candidates = (
        (flag, "--database-url"),
        (env.get("EXPANDCTL_DATABASE_URL"), "EXPANDCTL_DATABASE_URL"),
        (settings.database_url, "database_url in the config"),
        (env.get(settings.database_url_env), settings.database_url_env),
    )
    return next(((url, name) for url, name in candidates if url), (None, ""))


def _embedded_wins(named_by: str, url: str) -> None:
    """--embedded with a URL too: a flag naming both is a contradiction; a URL from the
    environment or the config is ignored, and the operator is told so."""
    if named_by == "--database-url":
        raise ConfigError(
            "--embedded and --database-url both name the database to use",
            hint="pass one of them",
        )
    log.warning(
        "warning: --embedded wins: using the embedded PostgreSQL under .expandctl/, not %s from %s",
        where(url),
        named_by,
    )


def _read_settings(path: Path) -> Settings:
    text, section, prefix = _read_section(path)
    return _validate(section, path, text, prefix)


def _read_section(path: Path) -> tuple[str, Any, tuple[str, ...]]:
    """The file's text, its expandctl section (checked: TOML, control characters,
    nesting, a table) and the section's key path in the file."""
    text = read_text_file(path, ConfigError)[1]
    data = load_toml(text, path, ConfigError)
    check_data(data, text, path, ConfigError)
    prefix: tuple[str, ...] = ()
    section: Any = data
    if path.name == PYPROJECT:
        prefix = ("tool", "expandctl")
        section = data.get("tool", {}).get("expandctl", {})
    if not isinstance(section, dict):
        raise ConfigError("[tool.expandctl] must be a table", path=path)
    return text, section, prefix


def _validate(section: Any, path: Path, text: str, prefix: tuple[str, ...]) -> Settings:
    from pydantic import ValidationError

    from expandctl.loader.validation import validation_error
    from expandctl.model.config import Settings

    try:
        return Settings.model_validate(section)
    except ValidationError as exc:
        error = validation_error(exc, path, text, ConfigError)
        if prefix:
            loc = [*prefix, *exc.errors()[0]["loc"]]
            error.line = line_of(key_lines(text), loc) or error.line
        raise error from None
