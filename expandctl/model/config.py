"""Settings from ``[tool.expandctl]`` / ``expandctl.toml``, environment and flags."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from expandctl.model.durations import Duration, PgTimeout
from expandctl.model.lint_config import (
    DEFAULT_MIGRATIONS_DIR,
    DEFAULT_PG_VERSION,
    LintConfig,
    LintOptions,
    migrations_path,
)

Severity = Literal["error", "warning", "off"]


def _zero_needs_no_unit(value: object) -> object:
    # 0 is PostgreSQL's "no limit" and means the same in every unit.
    if not isinstance(value, bool) and value in ("0", 0):
        return timedelta(0)
    return value


# A duration where "0" (or "0s") means no limit.
Timeout = Annotated[PgTimeout, BeforeValidator(_zero_needs_no_unit)]


class LintSettings(BaseModel):
    """``[tool.expandctl.lint]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    select: list[str] = Field(default_factory=list, description="rule ids or groups to enable")
    ignore: list[str] = Field(default_factory=list, description="rule ids or groups to disable")
    severity: dict[str, Severity] = Field(default_factory=dict, description="per-rule severity")


class Settings(BaseModel):
    """Validated configuration; a typo in a key is an error that names it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    migrations_dir: str = DEFAULT_MIGRATIONS_DIR
    database_url: str | None = None
    database_url_env: str = "DATABASE_URL"
    state_schema: str = Field(default="expandctl", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    lock_timeout: PgTimeout = timedelta(seconds=1)
    statement_timeout: PgTimeout = timedelta(minutes=10)
    # Bounds CREATE/DROP INDEX CONCURRENTLY and REINDEX … CONCURRENTLY instead of
    # statement_timeout. No limit by default: such a build blocks no reads or
    # writes, and cancelling it throws hours of work away (docs/configuration.md).
    index_timeout: Timeout = timedelta(0)
    lock_retries: int = Field(default=8, ge=0, le=100)
    advisory_lock_wait: Duration = timedelta(seconds=10)
    pg_version: int = Field(default=DEFAULT_PG_VERSION, ge=11, le=30)
    lint: LintSettings = Field(default_factory=LintSettings)


class ResolvedConfig(BaseModel):
    """Settings plus where they came from and the database URL actually in force."""

    model_config = ConfigDict(frozen=True)

    settings: Settings
    project_root: str
    source: str | None  # the file the settings came from, if any
    database_url: str | None  # after flags and environment; may hold a password
    embedded: bool = False

    @property
    def migrations_path(self) -> str:
        return migrations_path(self.settings.migrations_dir, self.project_root)

    def for_lint(self) -> LintConfig:
        """What ``expandctl lint`` needs of it."""
        lint = self.settings.lint
        return LintConfig(
            migrations_path=self.migrations_path,
            pg_version=self.settings.pg_version,
            lint=LintOptions(tuple(lint.select), tuple(lint.ignore), dict(lint.severity)),
        )
