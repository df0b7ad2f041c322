"""lint_migration: each phase with its own rules, operations' SQL included, rollbacks in context."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandctl.commands.lint import _lint_plain_files, _PlainJob
from expandctl.lint import lint_migration, rule_set
from expandctl.loader.migrations import load_migration
from expandctl.model.phases import Phase


def _migration(tmp_path: Path, manifest: str, files: dict[str, str]) -> Path:
    folder = tmp_path / "0001_demo"
    folder.mkdir()
    (folder / "migration.toml").write_text(manifest, encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _ids(folder: Path) -> list[tuple[str, Phase, bool, str]]:
    results = lint_migration(load_migration(folder))
    return [
        (Path(r.path.split("#")[0]).name + ("#" + r.path.split("#")[1] if "#" in r.path else ""),
         r.phase, r.rollback, f.rule_id)
        for r in results
        for f in r.findings
    ]  # fmt: skip


def test_declarative_operations_are_linted_and_declare_their_retires(tmp_path: Path) -> None:
    folder = _migration(
        tmp_path,
        'description = "x"\n\n'
        '[[operations]]\nop = "drop_column"\ntable = "users"\ncolumn = "legacy"\n\n'
        '[[operations]]\nop = "sql"\nexpand = "CREATE INDEX users_a_idx ON users (a)"\n',
        {"contract.sql": "ALTER TABLE users DROP COLUMN other;\n"},
    )
    found = _ids(folder)
    # the op's own DROP COLUMN legacy is declared by the op; other is not; the raw-SQL
    # operation's index is checked like a file's
    assert found == [
        ("migration.toml#operations.expand", Phase.EXPAND, False, "L101"),
        ("contract.sql", Phase.CONTRACT, False, "C201"),
    ]


def test_phases_share_what_earlier_phases_created(tmp_path: Path) -> None:
    folder = _migration(
        tmp_path,
        'description = "x"\nretires = ["users.name"]\n',
        {
            "expand.sql": "CREATE TABLE audit (id bigint PRIMARY KEY, who text);\n"
            "ALTER TABLE users ADD CONSTRAINT fn_nn CHECK (full_name IS NOT NULL) NOT VALID;\n",
            "expand.down.sql": "DROP TABLE audit;\nALTER TABLE users DROP CONSTRAINT fn_nn;\n",
            "switch-reads.sql": "ALTER TABLE users VALIDATE CONSTRAINT fn_nn;\n"
            "CREATE INDEX audit_who_idx ON audit (who);\n",
            "switch-reads.down.sql": "DROP INDEX audit_who_idx;\n",
            "contract.sql": "ALTER TABLE users ALTER COLUMN full_name SET NOT NULL;\n"
            "ALTER TABLE users DROP COLUMN name;\n",
        },
    )
    # audit is new to the migration (its index needs no CONCURRENTLY); the CHECK was
    # validated in switch-reads (SET NOT NULL is cheap); name is retired. The expand
    # rollback may lock audit before it waits for users': the old code a rollback
    # serves never knew audit, and the rollback drops it anyway. Flagged: the rollback
    # drops an index on a table that has had traffic since expand.
    assert _ids(folder) == [("switch-reads.down.sql", Phase.SWITCH_READS, True, "L102")]


def test_rollback_may_only_drop_what_its_forward_file_created(tmp_path: Path) -> None:
    folder = _migration(
        tmp_path,
        'description = "x"\n',
        {
            "expand.sql": "ALTER TABLE users ADD COLUMN nickname text;\n",
            "expand.down.sql": "ALTER TABLE users DROP COLUMN nickname;\n"
            "ALTER TABLE users DROP COLUMN email;\n",
        },
    )
    assert _ids(folder) == [("expand.down.sql", Phase.EXPAND, True, "C201")]


@pytest.mark.parametrize("count", [3, 80])
def test_parallel_and_serial_plain_linting_agree(count: int, tmp_path: Path) -> None:
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"f{i}.sql")
        paths[-1].write_text(f"CREATE INDEX i{i} ON t (a);\nSELECT {i};\n", encoding="utf-8")
    results = list(_lint_plain_files(paths, _PlainJob(None, 15, rule_set())))
    assert [r["path"] for r in results] == [str(path) for path in paths]
    assert all([f["rule_id"] for f in r["findings"]] == ["L101"] for r in results)
    assert sum(r["statements"] for r in results) == 2 * count


def test_operation_steps_the_engine_runs_alone_end_the_transaction_group(tmp_path: Path) -> None:
    """set_not_null validates in autocommit: its VALIDATE holds no lock from the group.

    The same statements in a phase file share a transaction (the plan's step
    for a file statement runs alone only when PostgreSQL requires it); a
    comment saying otherwise changes nothing: "runs alone" is read from the
    plan's steps, never from the text.
    """
    folder = _migration(
        tmp_path,
        'description = "x"\n\n'
        '[[operations]]\nop = "set_not_null"\ntable = "users"\ncolumn = "nickname"\n',
        {
            "switch-writes.sql": "ALTER TABLE users ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) "
            "NOT VALID;\n-- expandctl: runs alone, in autocommit\n"
            "ALTER TABLE users VALIDATE CONSTRAINT a_nn;\n"
        },
    )
    found = [(name, phase, rule) for name, phase, _, rule in _ids(folder) if rule == "L114"]
    assert found == [("switch-writes.sql", Phase.SWITCH_WRITES, "L114")]


def test_example_migrations_hold_no_strong_lock_over_slow_work() -> None:
    """0014_add_teams locks users, then runs catalog checks, a NOT VALID foreign key to
    its new table and, in rollback, drops that table: all instant, so no L114."""
    from tests.conftest import PROJECT_ROOT

    folders = sorted(p for p in (PROJECT_ROOT / "migrations").iterdir() if p.is_dir())
    assert any(p.name == "0014_add_teams" for p in folders)
    found = [
        (result.path, f.line)
        for folder in folders
        for result in lint_migration(load_migration(folder))
        for f in result.findings
        if f.rule_id == "L114"
    ]
    assert found == []


def test_quoted_names_are_retired_by_operations_and_by_retires(tmp_path: Path) -> None:
    """``"my col"`` and ``"Users"."Email"``: operations declare them, ``retires`` can name them."""
    folder = _migration(
        tmp_path,
        'description = "x"\n'
        'retires = [\'"Users"."Nick"\']\n\n'
        '[[operations]]\nop = "drop_column"\ntable = "users"\ncolumn = "my col"\n\n'
        '[[operations]]\nop = "drop_column"\ntable = "Users"\ncolumn = "Email"\n',
        {
            "contract.sql": 'ALTER TABLE "Users" DROP COLUMN "Nick";\n'
            'ALTER TABLE "Users" DROP COLUMN "Other";\n'
        },
    )
    # Only the undeclared "Other" is flagged; a case-folded spelling retires nothing.
    assert [f for f in _ids(folder) if f[3] == "C201"] == [
        ("contract.sql", Phase.CONTRACT, False, "C201")
    ]
    results = lint_migration(load_migration(folder))
    flagged = [f.message for r in results for f in r.findings if f.rule_id == "C201"]
    assert len(flagged) == 1 and '"Users"."Other"' in flagged[0]
    assert '\'"Users"."Other"\'' in flagged[0]  # advice that is valid TOML


def test_retires_parses_quoted_parts() -> None:
    from expandctl.model.retires import ObjectKind, RetiredObject

    assert RetiredObject.parse('"Users"."Email"') == RetiredObject(
        kind=ObjectKind.COLUMN, name='"Users"."Email"'
    )
    assert RetiredObject.parse('Users."my col"').name == 'users."my col"'
    assert RetiredObject.parse('"users".name').name == "users.name"  # folds to itself
    assert RetiredObject.parse('table:"a.b"').kind is ObjectKind.TABLE


def test_the_contexts_object_kinds_are_retires_kinds() -> None:
    """lint.context names the kinds by value, to compare without importing the model."""
    from expandctl.lint.context import _OBJECT_KINDS
    from expandctl.model.retires import ObjectKind

    assert set(_OBJECT_KINDS.values()) == {k.value for k in ObjectKind}
