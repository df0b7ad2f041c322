"""SQL text as plan steps: one SqlStep per statement, and which of them run alone.

Below the planner and the operations alike: ``planning`` reads phase files
with it and ``op = "sql"`` operations read their raw SQL with it, so neither
imports the other. Pure: no database.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from expandctl.errors import ManifestError
from expandctl.model.sql_split import (
    PsqlCommand,
    find_comments,
    is_copy_from_stdin,
    split_script,
)

if TYPE_CHECKING:  # imported by sql_steps(): needs_autocommit alone needs no pydantic model
    from expandctl.model.steps import SqlStep

# PostgreSQL refuses these inside a transaction block ("cannot run inside a
# transaction block"); they run alone, in autocommit. This is the one list:
# the engine groups by it and the linter reads the plan's steps (or, for SQL
# outside a migration, asks needs_autocommit). CLUSTER of one table and
# REINDEX of one table or index do run in a transaction; without a table
# CLUSTER re-clusters every table, and REINDEX SCHEMA/DATABASE/SYSTEM do not.
_NO_TRANSACTION = [
    re.compile(p, re.I)
    for p in (
        r"^create\s+(unique\s+)?index\s+concurrently\b",
        r"^drop\s+index\s+concurrently\b",
        r"^reindex\b.*\bconcurrently\b",
        r"^reindex\s+(\([^)]*\)\s*)?(schema|database|system)\b",
        r"^alter\s+table\b.*\bdetach\s+partition\b.*\bconcurrently\b",
        r"^vacuum\b",
        r"^cluster\s*(\([^)]*\)|verbose)?\s*$",
        r"^create\s+database\b",
        r"^drop\s+database\b",
        r"^alter\s+database\b.*\bset\s+tablespace\b",
        r"^(create|drop)\s+tablespace\b",
        r"^alter\s+system\b",
    )
]
_ADD_ENUM_VALUE = re.compile(r"^alter\s+type\b.*\badd\s+value\b", re.I)
_TRANSACTION_CONTROL = re.compile(
    r"^(begin|commit|rollback|end|start\s+transaction|savepoint|release|abort)\b", re.I
)
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_CREATE_INDEX = re.compile(
    rf"^create\s+(?:unique\s+)?index\s+concurrently\s+(?:if\s+not\s+exists\s+)?"
    rf"(?P<name>{_NAME}(?:\.{_NAME})?)\s+on\b",
    re.I,
)
_DROP_INDEX = re.compile(
    rf"^drop\s+index\s+concurrently\s+(?:if\s+exists\s+)?(?P<name>{_NAME}(?:\.{_NAME})?)\s*"
    r"(?:cascade|restrict)?\s*$",
    re.I,
)

# ALTER TYPE ... ADD VALUE may run inside a transaction from PostgreSQL 12 on.
ENUM_IN_TRANSACTION_SINCE = 12


def without_comments(sql: str) -> str:
    """The statement with comments removed and whitespace collapsed, for matching."""
    pieces: list[str] = []
    last = 0
    for comment in find_comments(sql):
        pieces.append(sql[last : comment.start])
        last = comment.start + len(comment.text)
    pieces.append(sql[last:])
    return " ".join("".join(pieces).split())


def needs_autocommit(sql: str, *, server_version: int) -> bool:
    """True when PostgreSQL refuses ``sql`` inside a transaction block: it runs alone."""
    text = without_comments(sql)
    if any(p.search(text) for p in _NO_TRANSACTION):
        return True
    return server_version < ENUM_IN_TRANSACTION_SINCE and bool(_ADD_ENUM_VALUE.search(text))


def sql_steps(
    text: str,
    *,
    source: str,
    path: str | None = None,
    server_version: int,
    refuse_transaction_control: bool = True,
) -> list[SqlStep]:
    """One step per statement; empty or comment-only text gives no steps.

    ``refuse_transaction_control=False`` is for the linter, which reports
    BEGIN/COMMIT in a phase file as a finding (T404), and psql commands and
    ``COPY … FROM stdin`` as I704, instead of stopping.
    """
    from expandctl.model.steps import SqlStep

    scanned = split_script(text)
    if refuse_transaction_control:
        _refuse_psql(scanned.psql_commands, path or source)
    steps: list[SqlStep] = []
    for statement in scanned.statements:
        bare = without_comments(statement.text)
        if not bare:
            continue
        if refuse_transaction_control and is_copy_from_stdin(bare):
            raise ManifestError(
                "COPY … FROM stdin: expandctl runs migration SQL itself and has no rows "
                "to feed it",
                path=path or source,
                line=statement.line,
                hint="load the rows with INSERT statements, or with psql outside the migration",
            )
        if refuse_transaction_control and _TRANSACTION_CONTROL.match(bare):
            raise ManifestError(
                f"transaction control ({bare.split()[0].upper()}) in a phase file",
                path=path or source,
                line=statement.line,
                hint="remove it: expandctl groups statements into transactions itself",
            )
        create = _CREATE_INDEX.match(bare)
        drop = _DROP_INDEX.match(bare)
        index_match = create or drop
        steps.append(
            SqlStep(
                sql=statement.text,
                source=source,
                line=statement.line,
                autocommit=needs_autocommit(bare, server_version=server_version),
                concurrent_index=index_match["name"] if index_match else None,
                concurrent_action="create" if create else ("drop" if drop else None),
            )
        )
    return steps


def _refuse_psql(commands: list[PsqlCommand], where: str) -> None:
    """psql meta-commands are not SQL: sent to the server they fail, and dropping
    them (``\\connect``, ``\\i``) would run the rest somewhere or something else."""
    if not commands:
        return
    first = commands[0]
    raise ManifestError(
        f"psql meta-command '{first.text.split(None, 1)[0]}': expandctl runs migration SQL "
        "itself, not through psql",
        path=where,
        line=first.line,
        hint="remove psql commands (\\set, \\connect, \\i, ...); write plain SQL statements",
    )
