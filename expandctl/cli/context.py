"""What every subcommand gets from the global options."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # loading the config imports pydantic: only when a command needs it
    from expandctl.model.config import ResolvedConfig
    from expandctl.model.lint_config import LintConfig


@dataclass
class AppContext:
    config_path: Path | None = None
    database_url: str | None = None
    embedded: bool = False
    verbose: int = 0
    quiet: bool = False
    color: bool = True
    log_format: str = "text"  # "json": stderr carries JSON lines only (cli/log_format.py)
    _config: ResolvedConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> ResolvedConfig:
        """Loaded on first use, so ``--help`` and ``--version`` never read files."""
        if self._config is None:
            from expandctl.loader.config import load_config

            self._config = load_config(
                config_path=self.config_path,
                database_url=self.database_url,
                embedded=self.embedded,
            )
        return self._config

    def lint_config(self) -> LintConfig:
        """What ``lint`` needs of the configuration, read without pydantic when it
        can be (``loader.config.load_lint_config``): same file, same errors."""
        if self._config is not None or self.embedded:
            # --embedded with --database-url is refused by load_config
            return self.config.for_lint()
        from expandctl.loader.config import load_lint_config

        return load_lint_config(config_path=self.config_path)

    def secrets(self) -> tuple[str | None, ...]:
        return (self.database_url, os.environ.get("EXPANDCTL_DATABASE_URL"))


pass_app = click.make_pass_decorator(AppContext)
