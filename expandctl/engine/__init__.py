"""Talks to PostgreSQL: state schema, advisory lock, phase runner, embedded server."""
