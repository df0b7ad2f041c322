"""Drift that matters: whitespace and comments are no drift, a real edit names its file,
and checksums recorded by expandctl 0.1 (raw text, no per-file checksums) still match."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from expandctl.commands.advance import advance
from expandctl.commands.status import status
from expandctl.errors import StateError
from expandctl.loader.migrations import load_migration
from expandctl.model.phases import Phase
from tests.engine.conftest import Project

pytestmark = pytest.mark.db

EXPAND = "CREATE TABLE t (id int, note text);\nCREATE INDEX CONCURRENTLY t_note ON t (note);\n"
REFORMATTED = (
    "-- t holds the notes\n"
    "CREATE TABLE t (\n    id int,   -- the key\n    note text\n);\n\n"
    "/* built without blocking writes */\n"
    "CREATE INDEX CONCURRENTLY t_note\n    ON t (note);\n"
)


def _add(project: Project) -> Path:
    return project.add(
        "0001_t",
        expand=EXPAND,
        expand_down="DROP TABLE t;\n",
        manifest='[gates.contract]\nsql = "SELECT true"\n',
    )


def test_whitespace_and_comment_edits_are_not_drift(project: Project) -> None:
    folder = _add(project)
    advance(project.config())
    (folder / "expand.sql").write_text(REFORMATTED)
    (folder / "expand.down.sql").write_text("-- undo\nDROP   TABLE t;\n")
    (folder / "migration.toml").write_text(
        'description = "test"\n# reworded\n[gates.contract]\nsql = "SELECT true"  # ok\n'
    )
    assert status(project.config()).drifted == []
    assert advance(project.config()).runs[0].phase == "backfill"  # no drift refusal


def test_a_real_edit_is_drift_that_names_the_file(project: Project) -> None:
    folder = _add(project)
    advance(project.config())
    (folder / "expand.sql").write_text(EXPAND.replace("note text", "note varchar(10)"))
    with pytest.raises(StateError, match="drift: the files of expand of 0001_t") as info:
        advance(project.config())
    changed = info.value.message.split("changed since it ran: ", 1)[1]
    assert changed.startswith("expand.sql (in ") and "migration.toml" not in changed
    assert "expand.down.sql" not in changed
    row = status(project.config()).migrations[0]
    assert [(d.phase, d.files) for d in row.drift] == [(Phase.EXPAND, ["expand.sql"])]
    assert "restore expand.sql" in (info.value.hint or "")
    result = project.cli("status")
    assert "DRIFT: expand.sql of expand changed since it ran" in result.output


def _legacy_checksum(folder: Path, phase: Phase) -> str:
    """What expandctl 0.1 recorded: the raw text of the phase's files and its manifest part."""
    migration = load_migration(folder)
    manifest = migration.manifest
    relevant = {
        "sql": {
            name: f.text for name, f in sorted(migration.sql_files.items()) if f.phase is phase
        },
        "operations": [op.model_dump(mode="json", by_alias=True) for op in manifest.operations],
        "gate": (g.model_dump(mode="json") if (g := manifest.gates.get(phase)) else None),
        "retires": [str(r) for r in manifest.retires] if phase is Phase.CONTRACT else [],
        "backfill": [b.model_dump(mode="json") for b in manifest.backfill]
        if phase is Phase.BACKFILL
        else [],
    }
    blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _record_as_0_1(project: Project, folder: Path) -> None:
    """Rewrite the recorded expand as expandctl 0.1 wrote it: legacy checksum, no file list."""
    legacy = _legacy_checksum(folder, Phase.EXPAND)
    project.query(
        "UPDATE expandctl.migrations SET phases = jsonb_set("
        "phases #- '{expand,file_checksums}', '{expand,checksum}', to_jsonb(%s::text))",
        (legacy,),
    )
    recorded = project.one("SELECT phases -> 'expand' FROM expandctl.migrations")
    assert recorded["checksum"] == legacy and "file_checksums" not in recorded
    assert legacy != load_migration(folder).phase_checksums[Phase.EXPAND]


def test_a_checksum_recorded_by_0_1_still_matches_unchanged_files(project: Project) -> None:
    folder = _add(project)
    advance(project.config())
    _record_as_0_1(project, folder)
    assert status(project.config()).drifted == []
    assert advance(project.config()).runs[0].phase == "backfill"


def test_a_0_1_record_with_edited_files_is_drift_naming_every_file_of_the_phase(
    project: Project,
) -> None:
    folder = _add(project)
    advance(project.config())
    _record_as_0_1(project, folder)
    (folder / "expand.sql").write_text(EXPAND + "CREATE TABLE u (id int);\n")
    with pytest.raises(StateError, match=r"changed since it ran: expand\.down\.sql, expand\.sql"):
        advance(project.config())


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("CREATE TABLE t ( id int )", "CREATE TABLE t(id int)", True),
        ("SELECT a -- why\n, b", "SELECT a, b", True),
        ("SELECT /* x */ 1", "SELECT 1", True),
        ("SELECT 'a  b'", "SELECT 'a b'", False),  # a literal is data: kept exactly
        ('SELECT "a  b"', 'SELECT "a b"', False),
        ("SELECT $f$ a  b $f$", "SELECT $f$ a b $f$", False),
        ("SELECT E'x\\'  y'", "SELECT E'x\\' y'", False),
        ("SELECT 'it''s  x'", "SELECT 'it''s x'", False),
        ("SELECT 1 e", "SELECT 1e", False),  # a space between two words is kept
    ],
)
def test_sql_normalisation_drops_only_insignificant_whitespace(a: str, b: str, same: bool) -> None:
    from expandctl.loader.checksums import normalised_sql

    assert (normalised_sql(a) == normalised_sql(b)) is same
