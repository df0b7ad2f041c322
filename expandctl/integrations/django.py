"""``expandctl.runtime`` for Django: the column name to read or write in this phase.

```python
from expandctl.integrations.django import column_name

name = column_name("0003_rename_customers_name", old="name", new="full_name")
Customer.objects.extra(select={"display": name})  # or raw SQL using `name`
```

Uses Django's own connection (``using``, default ``"default"``), which must
use the psycopg 3 driver (Django 4.2+ picks it when installed).
"""

from __future__ import annotations

from typing import Any

import psycopg

from expandctl import runtime
from expandctl.errors import ConfigError


def psycopg_connection(using: str = "default") -> psycopg.Connection[Any]:
    """The psycopg 3 connection under Django's connection ``using``."""
    from django.db import connections

    wrapper = connections[using]
    wrapper.ensure_connection()
    raw = wrapper.connection
    if not isinstance(raw, psycopg.Connection):
        raise ConfigError(
            "expandctl.runtime needs Django's psycopg 3 driver",
            hint="pip install 'psycopg[binary]' (Django 4.2+ then uses it)",
        )
    return raw


def reads_new(migration_id: str, *, using: str = "default") -> bool:
    return runtime.reads_new(psycopg_connection(using), migration_id)


def writes_new(migration_id: str, *, using: str = "default") -> bool:
    return runtime.writes_new(psycopg_connection(using), migration_id)


def column_name(
    migration_id: str, *, old: str, new: str, write: bool = False, using: str = "default"
) -> str:
    """``new`` once the migration switched reads (writes, with ``write=True``), else ``old``."""
    switched = (
        writes_new(migration_id, using=using) if write else reads_new(migration_id, using=using)
    )
    return new if switched else old
