"""What ``expandctl lint`` needs of the configuration, as plain records (no pydantic).

``model.config.Settings`` validates the whole configuration with pydantic,
which costs more than linting a small file. ``loader.lint_config`` reads a
configuration into these records when it can tell, without pydantic, that
``Settings`` accepts it exactly as written, and asks ``Settings`` otherwise
(so every error is the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from types import MappingProxyType

DEFAULT_MIGRATIONS_DIR = "migrations"
DEFAULT_PG_VERSION = 15


@dataclass(frozen=True)
class LintOptions:
    """``[tool.expandctl.lint]``, as ``model.config.LintSettings``."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def as_data(self) -> dict[str, object]:
        """As ``LintSettings.model_dump(mode="json")`` (part of lint's cache keys)."""
        return {
            "select": list(self.select),
            "ignore": list(self.ignore),
            "severity": dict(self.severity),
        }


@dataclass(frozen=True)
class LintConfig:
    """The configuration as lint sees it: where migrations are, the PostgreSQL
    version, and the lint options."""

    migrations_path: str
    pg_version: int = DEFAULT_PG_VERSION
    lint: LintOptions = field(default_factory=LintOptions)


def migrations_path(migrations_dir: str, project_root: str) -> str:
    """``migrations_dir`` relative to the project root unless absolute
    (``ResolvedConfig.migrations_path``)."""
    path = PurePath(migrations_dir)
    return str(path if path.is_absolute() else PurePath(project_root) / path)
