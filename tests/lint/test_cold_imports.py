"""What a cold (uncached) ``expandctl lint`` of plain .sql files imports.

A plain file needs the parser and the rules, never the migration models (every
declarative operation's pydantic model, the planner, the manifest checks) nor
multiprocessing for a handful of files. Nor pydantic at all: findings are
plain records and a plainly valid configuration is read without it; a
configuration only the model can judge (a duration) imports pydantic and the
settings model, still no manifest. The test checks ``sys.modules`` of a
real process (no timings; bench/lint_bench.py measures them), and that a
migration folder still gets everything it needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from expandctl.commands.lint import _PARALLEL_MIN_FILES
from tests.lint.test_startup import _loaded, _modules

MIGRATION_MODELS = (
    "expandctl.model.planning",
    "expandctl.model.migration",
    "expandctl.model.manifest",
    "expandctl.model.operations",
    "expandctl.model.steps",
    "expandctl.loader.migrations",
    "expandctl.loader.manifest_checks",
)


NO_CONFIG = None
PLAIN_CONFIG = (
    "pyproject.toml",
    '[project]\nname = "app"\n\n[tool.expandctl]\npg_version = 14\n'
    '[tool.expandctl.lint]\nselect = ["default", "style"]\n',
)


@pytest.mark.parametrize(
    "config",
    [
        NO_CONFIG,
        PLAIN_CONFIG,
        ("expandctl.toml", 'migrations_dir = "db"\n[lint]\nignore = ["S601"]\n'),
    ],
)
def test_a_cold_plain_file_lint_loads_no_migration_model(
    tmp_path: Path, config: tuple[str, str] | None
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    if config is not None:
        (project / config[0]).write_text(config[1], encoding="utf-8")
    (project / "one.sql").write_text(
        "CREATE INDEX i ON users (email);\nALTER TABLE users ADD COLUMN c text;\n"
        "UPDATE users SET c = 'x';\n",
        encoding="utf-8",
    )
    code, modules = _modules(tmp_path, project, "lint", "--no-cache", "one.sql")
    assert code == 1  # it did lint (and find the unconcurrent index)
    assert "expandctl.lint.registry" in modules  # the check below can fail
    assert sorted(m for m in modules if m in MIGRATION_MODELS) == []
    assert not any(m.startswith("expandctl.model.ops") for m in modules)
    assert "multiprocessing" not in modules  # one file: linted in this process
    assert _loaded(modules, ("pydantic", "pydantic_core", "psycopg")) == []
    assert "expandctl.model.config" not in modules  # the settings model
    assert "expandctl.lint.finding" not in modules  # the findings' models


def test_a_config_only_the_model_can_judge_loads_it_but_no_manifest(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "expandctl.toml").write_text('lock_timeout = "2s"\n', encoding="utf-8")
    (project / "one.sql").write_text("CREATE INDEX i ON users (email);\n", encoding="utf-8")
    code, modules = _modules(tmp_path, project, "lint", "--no-cache", "one.sql")
    assert code == 1
    assert "expandctl.model.config" in modules  # the durations were validated
    assert sorted(m for m in modules if m in MIGRATION_MODELS) == []
    # and a bad one is refused by lint as by every command
    (project / "expandctl.toml").write_text('lock_timeout = "2 parsecs"\n', encoding="utf-8")
    code, _ = _modules(tmp_path, project, "lint", "--no-cache", "one.sql")
    assert code == 2


def test_a_migration_folder_still_loads_its_models(tmp_path: Path) -> None:
    project = tmp_path / "project"
    folder = project / "migrations" / "0001_add_email"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text('description = "x"\n', encoding="utf-8")
    (folder / "expand.sql").write_text(
        "ALTER TABLE users ADD COLUMN email text;\n", encoding="utf-8"
    )
    code, modules = _modules(tmp_path, project, "lint", "--no-cache", "migrations")
    assert code == 0, code
    assert {"expandctl.model.planning", "expandctl.loader.migrations"} <= modules


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no worker processes")
def test_many_files_are_linted_by_workers_forked_after_the_heavy_imports(tmp_path: Path) -> None:
    """The parent imports the parser and the runner before forking, so the
    workers share them instead of each importing them again."""
    project = tmp_path / "project"
    project.mkdir()
    for i in range(_PARALLEL_MIN_FILES):
        (project / f"{i:03d}.sql").write_text("SELECT 1;\n", encoding="utf-8")
    code, modules = _modules(tmp_path, project, "lint", "--no-cache", ".")
    assert code == 0
    assert "expandctl.commands.forked" in modules  # the check below can fail: workers were used
    assert "multiprocessing" not in modules  # the workers are forked without a pool
    assert {"pglast.parser", "expandctl.lint.runner"} <= modules  # the parent's own imports
