"""Simulated application clients for proving a migration zero-downtime.

``clients`` runs old- and new-version clients in threads, each on its own
connection, inserting, updating and selecting with the column names its
version knows and recording every error; ``proof`` advances a migration
through every phase (and each rollback) while they run. Used by the tests
and by ``expandctl demo``.
"""
