"""Run one backfill in its own process, so a test can kill -9 it mid-run.

usage: python -m tests.backfill.worker DSN BATCH_SIZE PAUSE_MS
"""

from __future__ import annotations

import sys

import psycopg

from tests.backfill.helpers import MIGRATION, SCHEMA, spec

from expandctl.engine.backfill import run_backfill  # isort: skip
from expandctl.model.config import Settings  # isort: skip


def main() -> None:
    dsn, batch_size, pause_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    result = run_backfill(
        lambda: psycopg.connect(dsn),
        schema=SCHEMA,
        migration_id=MIGRATION,
        index=0,
        spec=spec(batch_size=batch_size, pause_ms=pause_ms),
        settings=Settings(),
    )
    print(result.model_dump_json())


if __name__ == "__main__":
    main()
