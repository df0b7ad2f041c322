"""Small helpers for application code: which column to use in the current phase.

``expandctl.integrations.sqlalchemy`` and ``expandctl.integrations.django``
wrap ``expandctl.runtime`` for a SQLAlchemy connection / session or Django's
connection (both with the psycopg 3 driver). See docs/alembic.md and
docs/django.md.
"""
