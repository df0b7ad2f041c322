"""Gates on the other tool's bookkeeping, before that tool ever ran in the database."""

from __future__ import annotations

import pytest

from expandctl.engine.tool_gates import tool_gate_problem
from expandctl.model.config import Settings
from expandctl.model.steps import GateCheck
from tests.conftest import PgDatabase

pytestmark = pytest.mark.db


def test_no_tool_table_means_not_applied(pg_database: PgDatabase) -> None:
    with pg_database.connect() as conn:
        django = GateCheck(kind="django_migration", target="shop.0001_initial")
        alembic = GateCheck(kind="alembic_revision", target="a1b2c3")
        assert tool_gate_problem(conn, django, Settings()) == (
            "no django_migrations table: Django has not migrated this database"
        )
        assert tool_gate_problem(conn, alembic, Settings()) == (
            "no alembic_version table: Alembic has not migrated this database"
        )
        # read-only, and no transaction left open
        assert conn.info.transaction_status.name == "IDLE"
