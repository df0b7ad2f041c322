"""Writes that change which migration a recorded state belongs to: forget, rename.

Kept out of ``store.py`` (the everyday state writes): these two only run for
``expandctl forget``, with the advisory lock held, in the caller's transaction.
"""

from __future__ import annotations

from psycopg import sql

from expandctl.engine.connection import Connection
from expandctl.engine.store import StateStore


def delete_record(conn: Connection, store: StateStore, migration_id: str) -> bool:
    """Remove the state row of ``migration_id``; False when there was none."""
    cur = conn.execute(
        sql.SQL("DELETE FROM {}.migrations WHERE id = %s").format(sql.Identifier(store.schema)),
        (migration_id,),
    )
    return cur.rowcount == 1


def move_record(conn: Connection, store: StateStore, old_id: str, new_id: str) -> bool:
    """Give the state row of ``old_id`` to ``new_id`` (which must have none); False if none."""
    cur = conn.execute(
        sql.SQL("UPDATE {}.migrations SET id = %s, updated_at = now() WHERE id = %s").format(
            sql.Identifier(store.schema)
        ),
        (new_id, old_id),
    )
    return cur.rowcount == 1
