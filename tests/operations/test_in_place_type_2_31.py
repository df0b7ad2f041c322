"""The 2^31 test: an integer id about to run out keeps taking inserts after the swap.

The sequence is set just below 2^31 - 1. Before switch-writes, inserts fail
once the ids run out: "integer out of range" where the sequence is already
bigint (a serial made before PostgreSQL 10, or widened by hand), "reached
maximum value" where it is integer. After the swap the column and the
sequence are bigint and inserts go on past 2^31; undoing the swap is then
refused (the old integer column cannot hold those ids), nothing changed.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from expandctl.commands.advance import advance
from expandctl.commands.rollback import rollback
from expandctl.errors import ExpandctlError
from expandctl.model.phases import Phase
from tests.conftest import PgDatabase
from tests.operations.in_place_schema import create_pk_schema, pk_operation
from tests.operations.support import MIGRATION_ID, operation_project, query

pytestmark = pytest.mark.db

INT_MAX = 2**31 - 1


def insert_account(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("INSERT INTO accounts (email) VALUES ('x') RETURNING id").fetchone()
        assert row is not None
        conn.execute("INSERT INTO orders (account_id) VALUES (%s)", [row[0]])
        return int(row[0])


@pytest.mark.parametrize(
    ("sequence_type", "failure"),
    [("bigint", "integer out of range"), ("integer", "reached maximum value")],
)
def test_ids_go_past_2_31_after_the_swap(
    pg_database: PgDatabase, tmp_path: Path, sequence_type: str, failure: str
) -> None:
    dsn = pg_database.dsn
    create_pk_schema(dsn, "serial", rows=200)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"ALTER SEQUENCE accounts_id_seq AS {sequence_type}")
        conn.execute("SELECT setval('accounts_id_seq', %s)", [INT_MAX - 30])
    config = operation_project(tmp_path, pg_database, [pk_operation("serial")])
    ids: list[int] = []
    for phase in (Phase.EXPAND, Phase.BACKFILL, Phase.SWITCH_READS):
        advance(config, MIGRATION_ID, to=phase, yes=True)
        ids += [insert_account(dsn) for _ in range(5)]
    # The ids run out before the swap.
    while True:
        try:
            ids.append(insert_account(dsn))
        except psycopg.DataError as exc:  # 22003 or 2200H
            assert failure in str(exc)
            break
    assert max(ids) == INT_MAX
    advance(config, MIGRATION_ID, to=Phase.SWITCH_WRITES, yes=True)
    after = [insert_account(dsn) for _ in range(5)]
    assert min(after) > INT_MAX
    assert query(dsn, "SELECT count(*) FROM orders WHERE account_id > %s", INT_MAX) == [(5,)]
    # Going back would lose those ids: refused, nothing changed.
    with pytest.raises(ExpandctlError, match="cannot hold"):
        rollback(config, MIGRATION_ID, yes=True)
    assert query(dsn, "SELECT state FROM expandctl.migrations") == [("switch-writes",)]
    assert insert_account(dsn) > max(after)
    advance(config, MIGRATION_ID, to=Phase.CONTRACT, yes=True)
    assert insert_account(dsn) > max(after) + 1
    assert query(
        dsn,
        "SELECT seqtypid::regtype::text, seqmax FROM pg_sequence"
        " WHERE seqrelid = 'accounts_id_seq'::regclass",
    ) == [("bigint", 2**63 - 1)]
