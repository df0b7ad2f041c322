"""expandctl: zero-downtime PostgreSQL schema changes with expand-and-contract."""

__version__ = "0.1.0"
