"""Bridges to the migration tools Python teams already use: Alembic and Django.

- lint each Alembic revision / Django migration as its own migration
  (``expandctl lint --alembic`` / ``--django``), its SQL rendered offline by
  the tool itself;
- import one revision as a phased ``migration.toml`` (``expandctl import``).

expandctl's core never imports alembic, sqlalchemy or django: only the
modules of this package do, when a bridge command runs (``requires``).
"""
