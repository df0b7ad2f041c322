"""The bridges' pure parts: phase marks, the Alembic revision graph, optional extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandctl.bridges.phase_mark import marked_phase
from expandctl.bridges.requires import require
from expandctl.cli.app import cli
from expandctl.errors import ConfigError, UsageError
from expandctl.loader.alembic_graph import ancestors, revision_graph
from expandctl.model.phases import Phase
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    ("text", "phase"),
    [
        ('"""add age"""\nrevision = "a"\n', Phase.EXPAND),
        ('revision = "a"\nexpandctl_phase = "contract"\n', Phase.CONTRACT),
        ("revision = 'a'\nexpandctl_phase: str = 'switch_reads'\n", Phase.SWITCH_READS),
        ('"""drop the old column\n\nexpandctl: contract\n"""\n', Phase.CONTRACT),
        ("class Migration:\n    # expandctl: backfill\n    pass\n", Phase.BACKFILL),
        ('"""see expandctl: the docs"""\n', Phase.EXPAND),  # not a line of its own
    ],
)
def test_marked_phase(text: str, phase: Phase) -> None:
    assert marked_phase(text, "rev.py") is phase


def test_an_unknown_mark_names_file_and_line() -> None:
    with pytest.raises(UsageError) as caught:
        marked_phase('revision = "a"\n\nexpandctl_phase = "cleanup"\n', "versions/a.py")
    assert caught.value.location == "versions/a.py:3"
    assert "expand, backfill, switch-reads, switch-writes, contract" in str(caught.value)


def _revision(folder: Path, rev: str, down: object, depends: object = None) -> None:
    (folder / f"{rev}_x.py").write_text(
        f'"""r"""\nrevision = {rev!r}\ndown_revision = {down!r}\ndepends_on = {depends!r}\n'
    )


def test_revision_graph_and_ancestors(tmp_path: Path) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\n\n[formatters]\nformat = %(message)s\n"
    )
    _revision(versions, "a1", None)
    _revision(versions, "b2", "a1")
    _revision(versions, "c3", "a1")
    _revision(versions, "d4", ("b2", "c3"))  # a merge
    _revision(versions, "e5", None, "b2")  # another branch, depending on b2
    (versions / "notes.py").write_text("x = 1\n")  # not a revision
    graph = revision_graph(tmp_path / "alembic.ini")
    assert graph == {"a1": (), "b2": ("a1",), "c3": ("a1",), "d4": ("b2", "c3"), "e5": ("b2",)}
    assert ancestors(graph, ["d4"]) == {"a1", "b2", "c3", "d4"}
    assert ancestors(graph, ["c3", "e5"]) == {"a1", "b2", "c3", "e5"}
    with pytest.raises(ConfigError, match="no Alembic config"):
        revision_graph(tmp_path / "missing.ini")


def test_version_locations(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\nversion_locations = one %(here)s/two\n"
    )
    _revision(tmp_path / "one", "a1", None)
    _revision(tmp_path / "two", "b2", "a1")
    assert revision_graph(tmp_path / "alembic.ini") == {"a1": (), "b2": ("a1",)}


def test_a_missing_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "django", None)  # an import of it now fails
    with pytest.raises(UsageError) as caught:
        require("django")
    assert caught.value.hint == "pip install 'expandctl[django]'"


def test_the_core_never_imports_the_extras() -> None:
    code = (
        "import sys, expandctl.cli.app, expandctl.commands.advance, expandctl.commands.lint,"
        " expandctl.runtime, expandctl.engine.gates\n"
        "from expandctl.cli.app import cli\n"
        "print(sorted(m for m in ('alembic', 'sqlalchemy', 'django') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(PROJECT_ROOT)},
        check=True,
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alembic", "--django"], "cannot be combined"),
        (["--alembic", "--phase", "contract"], "--phase does not apply"),
    ],
)
def test_bridge_flag_misuse_is_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["lint", *args])
    assert result.exit_code == 2
    assert message in result.output
