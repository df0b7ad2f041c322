"""Which statements run alone is decided once (model.planning.needs_autocommit).

The table below is checked against PostgreSQL itself: each statement marked
alone fails inside a transaction block with "cannot run inside a transaction
block" (25001), each other one runs there. The linter groups statements by
the same answer: a statement that runs alone ends the transaction group, so
the strong lock taken before it is not held over what follows (no L114).
"""

from __future__ import annotations

import psycopg
import pytest

from expandctl.lint import LintContext, lint_sql
from expandctl.model.phases import Phase
from expandctl.model.planning import needs_autocommit
from tests.conftest import PgDatabase

SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE t (id bigint PRIMARY KEY, a integer);
CREATE INDEX t_a_idx ON t (a);
ALTER TABLE t CLUSTER ON t_a_idx;
CREATE TABLE p (id bigint) PARTITION BY RANGE (id);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;
CREATE UNIQUE INDEX mv_id_idx ON mv (id);
"""

# (statement, runs alone); {db} is the test database's name.
STATEMENTS: list[tuple[str, bool]] = [
    ("CREATE INDEX CONCURRENTLY t_b_idx ON t (id, a)", True),
    ("CREATE UNIQUE INDEX CONCURRENTLY t_u_idx ON t (id)", True),
    ("DROP INDEX CONCURRENTLY t_a_idx", True),
    ("REINDEX INDEX CONCURRENTLY t_a_idx", True),
    ("REINDEX TABLE CONCURRENTLY t", True),
    ("REINDEX SCHEMA public", True),
    ("REINDEX DATABASE {db}", True),
    ("REINDEX SYSTEM {db}", True),
    ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", True),
    ("VACUUM t", True),
    ("VACUUM FULL t", True),
    ("VACUUM (ANALYZE) t", True),
    ("CLUSTER", True),
    ("CLUSTER VERBOSE", True),
    ("CREATE DATABASE expandctl_never_created", True),
    ("DROP DATABASE IF EXISTS expandctl_never_created", True),
    ("ALTER DATABASE {db} SET TABLESPACE pg_default", True),
    ("CREATE TABLESPACE expandctl_never LOCATION '/nonexistent'", True),
    ("DROP TABLESPACE IF EXISTS expandctl_never", True),
    ("ALTER SYSTEM SET work_mem = '4MB'", True),
    # these run in a transaction
    ("CLUSTER t", False),
    ("CLUSTER t USING t_a_idx", False),
    ("REINDEX TABLE t", False),
    ("REINDEX INDEX t_a_idx", False),
    ("CREATE INDEX t_c_idx ON t (a, id)", False),
    ("DROP INDEX t_a_idx", False),
    ("ALTER TABLE p DETACH PARTITION p1", False),
    ("ALTER TYPE mood ADD VALUE 'calm'", False),  # PostgreSQL 12+
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", False),
    ("ALTER DATABASE {db} SET work_mem = '4MB'", False),
    ("ANALYZE t", False),
    ("ALTER TABLE t ADD COLUMN b integer", False),
]
IDS = [sql.split(" t")[0] if len(sql) > 40 else sql for sql, _ in STATEMENTS]


@pytest.mark.parametrize(("sql", "alone"), STATEMENTS, ids=IDS)
def test_the_model_knows_what_postgresql_refuses_in_a_transaction(
    pg_database: PgDatabase, sql: str, alone: bool
) -> None:
    statement = sql.format(db=pg_database.name)
    with pg_database.connect(autocommit=True) as conn:
        conn.execute(SCHEMA)
        version = conn.info.server_version // 10000
        assert needs_autocommit(statement, server_version=version) is alone
        conn.execute("BEGIN")
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            assert alone, f"{statement!r} failed in a transaction: {exc}"
            assert exc.sqlstate == "25001", exc
        else:
            assert not alone, f"{statement!r} ran inside a transaction block"
        finally:
            conn.execute("ROLLBACK")


@pytest.mark.parametrize(("sql", "alone"), STATEMENTS, ids=IDS)
def test_the_linter_groups_statements_as_the_model_does(sql: str, alone: bool) -> None:
    """A strong lock, then the statement, then slow work: L114 only if it shares the group."""
    text = (
        "ALTER TABLE users ADD COLUMN nickname text;\n"
        f"{sql.format(db='app')};\n"
        "UPDATE users SET nickname = email WHERE id < 100;\n"
    )
    ctx = LintContext(managed_transactions=True)
    found = lint_sql(text, phase=Phase.EXPAND, source_name="f.sql", context=ctx)
    assert ("L114" in [f.rule_id for f in found]) is not alone
    assert needs_autocommit(sql, server_version=15) is alone


def test_enum_values_run_alone_before_postgresql_12() -> None:
    statement = "ALTER TYPE mood ADD VALUE 'calm'"
    assert needs_autocommit(statement, server_version=11)
    assert not needs_autocommit(statement, server_version=12)
