"""``expandctl.runtime`` for SQLAlchemy: the column name to read or write in this phase.

```python
from expandctl.integrations.sqlalchemy import column_name

name = column_name(session, "0003_rename_users_name", old="name", new="full_name")
rows = session.execute(select(users.c[name]).where(users.c.id == 7))
```

Takes a ``Session`` or ``Connection`` whose driver is psycopg 3
(``postgresql+psycopg://``); the lookup runs on that same connection, in a
savepoint, and is cached for the runtime's TTL.
"""

from __future__ import annotations

from typing import Any

import psycopg

from expandctl import runtime
from expandctl.errors import ConfigError


def psycopg_connection(bind: Any) -> psycopg.Connection[Any]:
    """The psycopg 3 connection under a SQLAlchemy ``Session`` or ``Connection``."""
    connection = bind.connection() if callable(getattr(bind, "connection", None)) else bind
    raw = getattr(getattr(connection, "connection", None), "driver_connection", None)
    if not isinstance(raw, psycopg.Connection):
        raise ConfigError(
            "expandctl.runtime needs the psycopg 3 driver under SQLAlchemy",
            hint="use a postgresql+psycopg:// URL",
        )
    return raw


def reads_new(bind: Any, migration_id: str) -> bool:
    return runtime.reads_new(psycopg_connection(bind), migration_id)


def writes_new(bind: Any, migration_id: str) -> bool:
    return runtime.writes_new(psycopg_connection(bind), migration_id)


def column_name(bind: Any, migration_id: str, *, old: str, new: str, write: bool = False) -> str:
    """``new`` once the migration switched reads (writes, with ``write=True``), else ``old``.

    While both columns exist the sync trigger copies either one to the other,
    so writing only the column this returns keeps both correct.
    """
    switched = writes_new(bind, migration_id) if write else reads_new(bind, migration_id)
    return new if switched else old
