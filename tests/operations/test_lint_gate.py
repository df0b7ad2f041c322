"""Every operation's generated SQL passes the same lint gate as hand-written SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandctl.lint import lint_migration
from expandctl.loader.migrations import load_migration
from tests.operations.support import MIGRATION_ID, manifest
from tests.operations.test_forward_rollback import CASES, Case
from tests.operations.test_zero_downtime import SCENARIOS


def findings_for(root: Path, ops_raw: list[dict[str, object]], pg_version: int) -> list[str]:
    """Lint a one-migration project holding the operations, as ``expandctl lint`` does:
    the plan's typed steps in their transaction groups, every phase and its rollback.

    L114 warnings are left out: the rule documents that it still counts some instant
    statements after a strong lock (``DROP TRIGGER`` on the locked table, dropping an
    unused table, re-adding a NOT VALID key), which the operations' groups hold.
    """
    folder = root / MIGRATION_ID
    folder.mkdir()
    (folder / "migration.toml").write_text(manifest(ops_raw), encoding="utf-8")
    results = lint_migration(load_migration(folder), pg_version=pg_version)
    return [
        f"{r.phase.value}{'.down' if r.rollback else ''}: {f.rule_id} {f.rule_name}: "
        f"{f.message} [{f.source_line}]"
        for r in results
        for f in r.findings
        if not (f.rule_id == "L114" and f.severity == "warning")
    ]


@pytest.mark.parametrize("pg_version", [15, 18])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_generated_sql_passes_the_lint_gate(tmp_path: Path, case: Case, pg_version: int) -> None:
    assert findings_for(tmp_path, case.ops, pg_version) == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_zero_downtime_scenarios_pass_the_lint_gate(tmp_path: Path, scenario: object) -> None:
    assert findings_for(tmp_path, [scenario.op], 15) == []  # type: ignore[attr-defined]
