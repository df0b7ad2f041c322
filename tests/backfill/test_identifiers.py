"""Names holding ``%`` (psycopg's placeholder sign) never break the batch statements."""

from __future__ import annotations

import pytest

from tests.backfill.helpers import run, spec
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db


def test_a_backfill_over_table_key_and_column_names_holding_a_percent(
    pg_database: PgDatabase,
) -> None:
    with pg_database.connect(autocommit=True) as conn:
        conn.execute('CREATE TABLE "odd%t" ("id%s" int PRIMARY KEY, "e%mail" text, "norm%" text)')
        conn.execute(
            """INSERT INTO "odd%t" SELECT g, 'A' || g || '@X.Y' FROM generate_series(1, 250) g"""
        )
    result = run(
        pg_database,
        spec(
            table='"odd%t"',
            set={"norm%": 'lower("e%mail")'},
            where='"norm%" IS DISTINCT FROM lower("e%mail")',
            batch_size=100,
        ),
    )
    assert result.rows_updated == 250 and result.remaining == 0
    assert result.key == ["id%s"]
    wrong = 'SELECT count(*) FROM "odd%t" WHERE "norm%" IS DISTINCT FROM lower("e%mail")'
    with pg_database.connect() as conn:
        assert conn.execute(wrong).fetchone() == (0,)
