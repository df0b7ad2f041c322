"""lint_migration walks the plan ``advance`` runs: its steps, their order and groups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from expandctl.engine.runner import group_steps
from expandctl.errors import StateError
from expandctl.lint import lint_migration
from expandctl.lint.planned import phase_sources
from expandctl.loader.migrations import load_migration
from expandctl.model.migration import Migration
from expandctl.model.phases import PHASES, Phase
from expandctl.model.planning import plan_phase, without_comments
from expandctl.model.steps import SqlStep
from tests.conftest import PROJECT_ROOT

EXAMPLES = sorted(p for p in (PROJECT_ROOT / "migrations").iterdir() if p.is_dir())


def _migration(tmp_path: Path, manifest: str, files: dict[str, str]) -> Migration:
    folder = tmp_path / "0001_demo"
    folder.mkdir(parents=True)
    (folder / "migration.toml").write_text('description = "x"\n\n' + manifest, encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return load_migration(folder)


def _linter_groups(migration: Migration, phase: Phase, *, rollback: bool) -> list[list[str]]:
    """The transaction groups as the linter walks them (same rule as the engine's)."""
    groups: list[list[str]] = []
    current: list[str] = []
    for source in phase_sources(migration, phase, rollback=rollback, pg_version=15):
        for planned in source.statements:
            sql = without_comments(planned.statement.sql.text)
            if planned.alone or planned.after_commit:
                groups.append(current)
                current = []
            if planned.alone:
                groups.append([sql])
            else:
                current.append(sql)
    groups.append(current)
    return [g for g in groups if g]


def _plan_groups(migration: Migration, phase: Phase, *, rollback: bool) -> list[list[str]]:
    """The engine's groups of the plan ``advance`` (or ``rollback``) runs, SQL steps only."""
    plan = plan_phase(migration, phase, rollback=rollback, server_version=15)
    groups = [
        [without_comments(s.sql).rstrip(";").strip() for _, s in g if isinstance(s, SqlStep)]
        for g in group_steps(plan.steps, 0)
    ]
    return [g for g in groups if g]


def _directions(migration: Migration) -> list[tuple[Phase, bool]]:
    out = []
    for phase in PHASES:
        out.append((phase, False))
        if phase.reversible:
            try:
                plan_phase(migration, phase, rollback=True, server_version=15)
            except StateError:
                continue  # no reverse written: advance refuses, lint does not crash
            out.append((phase, True))
    return out


@pytest.mark.parametrize("folder", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_linter_sees_the_groups_advance_runs(folder: Path) -> None:
    migration = load_migration(folder)
    for phase, rollback in _directions(migration):
        assert _linter_groups(migration, phase, rollback=rollback) == _plan_groups(
            migration, phase, rollback=rollback
        ), (folder.name, phase, rollback)


def test_a_generated_concurrent_index_after_a_strong_lock_ends_the_group(tmp_path: Path) -> None:
    """add_column locks users; create_index's CONCURRENTLY step runs alone; the file's
    UPDATE after it holds no lock from the group. Without the index operation it would."""
    slow = "UPDATE users SET nickname = email WHERE id < 100;\n"
    add = '[[operations]]\nop = "add_column"\ntable = "users"\ncolumn = "nickname"\ntype = "text"\n'
    index = (
        '[[operations]]\nop = "create_index"\ntable = "users"\nname = "users_nick_idx"\n'
        'columns = ["nickname"]\n'
    )
    with_index = _migration(tmp_path / "a", add + "\n" + index, {"expand.sql": slow})
    without = _migration(tmp_path / "b", add, {"expand.sql": slow})
    groups = _plan_groups(with_index, Phase.EXPAND, rollback=False)
    assert _linter_groups(with_index, Phase.EXPAND, rollback=False) == groups
    concurrently = [g for g in groups if "CONCURRENTLY" in g[0]]
    assert len(concurrently) == 1 and len(concurrently[0]) == 1
    assert groups.index(concurrently[0]) == len(groups) - 2  # alone, just before the UPDATE

    def l114(migration: Migration) -> list[str]:
        results = lint_migration(migration)
        return [
            r.path.rsplit("/", 1)[-1] for r in results for f in r.findings if f.rule_id == "L114"
        ]

    assert l114(with_index) == []
    assert l114(without) == ["expand.sql"]  # the negative control: same lock, same UPDATE


def test_a_suppression_in_a_phase_file_still_suppresses(tmp_path: Path) -> None:
    add = '[[operations]]\nop = "add_column"\ntable = "users"\ncolumn = "nickname"\ntype = "text"\n'
    migration = _migration(
        tmp_path,
        add,
        {
            "expand.sql": "COMMENT ON TABLE users IS 'x';\n"
            "-- expandctl-ignore: L101, L114 users has 40 rows\n"
            "CREATE INDEX users_a_idx ON users (a);\n"
        },
    )
    results = {r.path.rsplit("/", 1)[-1]: r for r in lint_migration(migration)}
    assert results["expand.sql"].findings == []
    assert results["expand.sql"].suppressed == 2
    bare = _migration(
        tmp_path / "x", add, {"expand.sql": "CREATE INDEX users_a_idx ON users (a);\n"}
    )
    found = [(f.rule_id, f.line) for r in lint_migration(bare) for f in r.findings]
    assert found == [("L101", 1), ("L114", 1)]  # the control: unsuppressed, at its file line


def test_generated_findings_name_their_operation_and_keep_phase_and_direction(
    tmp_path: Path,
) -> None:
    migration = _migration(
        tmp_path,
        '[[operations]]\nop = "add_column"\ntable = "users"\ncolumn = "nickname"\ntype = "text"\n\n'
        '[[operations]]\nop = "sql"\nswitch-reads = "CREATE INDEX users_a_idx ON users (a)"\n'
        '"switch-reads.down" = "DROP INDEX users_a_idx"\n',
        {
            "expand.sql": "COMMENT ON TABLE users IS 'a';\n",
            "expand.down.sql": "COMMENT ON TABLE users IS NULL;\n",
        },
    )
    results = lint_migration(migration)
    where = [(r.path.split("0001_demo/")[1], r.phase, r.rollback) for r in results]
    assert where == [
        ("migration.toml#operations.expand", Phase.EXPAND, False),
        ("expand.sql", Phase.EXPAND, False),
        ("migration.toml#operations.expand.down", Phase.EXPAND, True),
        ("expand.down.sql", Phase.EXPAND, True),
        ("migration.toml#operations.switch-reads", Phase.SWITCH_READS, False),
        ("migration.toml#operations.switch-reads.down", Phase.SWITCH_READS, True),
    ]
    found = [(r.path.split("#")[-1], r.rollback, f) for r in results for f in r.findings]
    assert [(p, down, f.rule_id, f.phase) for p, down, f in found] == [
        ("operations.switch-reads", False, "L101", "switch-reads"),
        ("operations.switch-reads.down", True, "L102", "switch-reads"),
    ]
    assert all(f.message.startswith("operation 2 (sql): ") for _, _, f in found)


def test_a_missing_reverse_does_not_crash_lint(tmp_path: Path) -> None:
    migration = _migration(
        tmp_path,
        '[[operations]]\nop = "sql"\nexpand = "CREATE INDEX users_a_idx ON users (a)"\n',
        {"switch-reads.sql": "DROP INDEX users_b_idx;\n"},
    )
    with pytest.raises(StateError, match="no reverse steps"):
        plan_phase(migration, Phase.EXPAND, rollback=True)
    found = [
        (r.path.split("0001_demo/")[1], f.rule_id)
        for r in lint_migration(migration)
        for f in r.findings
    ]
    assert ("migration.toml#operations.expand", "L101") in found
    assert ("switch-reads.sql", "L102") in found


def test_begin_in_a_phase_file_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    migration = _migration(
        tmp_path, "", {"expand.sql": "BEGIN;\nALTER TABLE users ADD COLUMN b text;\nCOMMIT;\n"}
    )
    found = [f.rule_id for r in lint_migration(migration) for f in r.findings]
    assert found.count("T404") == 2


def test_linting_the_examples_from_the_command_line_passes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "expandctl", "lint", "migrations/"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout


def test_a_rollback_runs_the_operations_reverse_and_the_down_file_in_one_group(
    tmp_path: Path,
) -> None:
    """add_column's reverse drops the column (ACCESS EXCLUSIVE on users); the .down
    file's UPDATE runs in the same transaction, as ``rollback`` groups them."""
    migration = _migration(
        tmp_path,
        '[[operations]]\nop = "add_column"\ntable = "users"\ncolumn = "nickname"\ntype = "text"\n',
        {
            "expand.sql": "COMMENT ON TABLE users IS 'a';\n",
            "expand.down.sql": "UPDATE users SET email = lower(email) WHERE id < 100;\n",
        },
    )
    assert _linter_groups(migration, Phase.EXPAND, rollback=True) == _plan_groups(
        migration, Phase.EXPAND, rollback=True
    )
    assert len(_plan_groups(migration, Phase.EXPAND, rollback=True)) == 1
    found = [
        (r.path.rsplit("/", 1)[-1], r.rollback, f.rule_id)
        for r in lint_migration(migration)
        for f in r.findings
    ]
    assert found == [("expand.down.sql", True, "L114")]


def test_each_generated_step_reads_as_its_own_statement() -> None:
    """A step ending in a -- comment, or a multi-line summary, cannot swallow the next step."""
    from expandctl.lint.planned import _generated
    from expandctl.model.steps import ResetBackfillStep

    steps = [
        SqlStep(sql="ALTER TABLE users ADD COLUMN b text -- why", source="operation 1"),
        ResetBackfillStep(),
        SqlStep(
            sql="CREATE INDEX CONCURRENTLY i ON users (b);", source="operation 2", autocommit=True
        ),
    ]
    source, _ = _generated("m#operations.expand", steps, {"operation 2": "operation 2 (x)"})
    seen = [(p.statement.sql.text, p.alone, p.operation) for p in source.statements]
    assert seen == [
        ("ALTER TABLE users ADD COLUMN b text", False, "operation 1"),
        ("CREATE INDEX CONCURRENTLY i ON users (b)", True, "operation 2 (x)"),
    ]
