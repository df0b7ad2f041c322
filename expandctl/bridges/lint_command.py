"""``expandctl lint --alembic [RANGE]`` / ``--django [APP…]``: every revision linted alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from expandctl.errors import UsageError
from expandctl.lint import LintReport, rule_set
from expandctl.lint.finding import Severity
from expandctl.model.config import ResolvedConfig

Tool = Literal["alembic", "django"]


def run_bridge_lint(
    config: ResolvedConfig,
    tool: Tool,
    targets: Sequence[str] = (),
    *,
    alembic_config: str | None = None,
    django_settings: str | None = None,
    pg_version: int | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    fail_on: Severity = "error",
    cwd: Path | None = None,
) -> LintReport:
    """Render each revision with the tool itself (offline), lint each as its own migration."""
    cwd = cwd or Path.cwd()
    version = pg_version if pg_version is not None else config.settings.pg_version
    rules = rule_set(config.settings.lint, select=select, ignore=ignore)
    if tool == "alembic":
        if len(targets) > 1:
            raise UsageError("--alembic takes one revision range (FROM:TO) or one revision")
        from expandctl.bridges import alembic_project

        cfg = alembic_project.alembic_config(alembic_config, cwd=cwd)
        revisions = alembic_project.render_revisions(cfg, targets[0] if targets else None)
    else:
        from expandctl.bridges import django_project

        django_project.setup(django_settings, cwd=cwd)
        revisions = [
            django_project.render(m) for m in django_project.migrations_of(targets, cwd=cwd)
        ]
    if not revisions:
        raise UsageError(
            f"no {tool} revisions to lint",
            hint="a gate that lints nothing passes nothing: check the range or app",
        )
    from expandctl.bridges.rendered import lint_revisions

    return lint_revisions(revisions, pg_version=version, rules=rules, fail_on=fail_on, cwd=cwd)
