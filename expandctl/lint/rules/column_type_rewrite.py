"""L107 column-type-rewrite."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AlterColumnType
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement

# Targets that are binary-coercible from varchar/char/text, so no rewrite or scan.
_UNBOUNDED_TEXT = {("TEXT",), ("VARCHAR",), ("CHARACTER", "VARYING"), ("CITEXT",)}


class ColumnTypeRewrite(Rule):
    """``ALTER COLUMN ... TYPE`` that rewrites or scans the table.

    Lock or breakage: changing a column's type rewrites the whole table and
    all its indexes (or at least scans it) under an ACCESS EXCLUSIVE lock:
    every query waits, for minutes on a big table. Only binary-coercible
    changes without ``USING`` (e.g. ``varchar(n)`` to ``text``) are free.
    Only columns of a table the migration created are exempt: a column the
    migration added to an existing table is rewritten with all its rows.

    Safe alternative: expand-and-contract: add a new column of the new type
    (expand), keep it in sync with a trigger and backfill it in batches
    (backfill), switch reads and writes, and drop the old column (contract).

    Bad:
        ALTER TABLE users ALTER COLUMN age TYPE bigint;

    Good:
        ALTER TABLE users ADD COLUMN age_new bigint;
    """

    id = "L107"
    name = "column-type-rewrite"
    group = "locking"
    actions = (AlterColumnType,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, AlterColumnType)
        if ctx.is_new_column(action.table, action.column):
            return
        if action.type_words in _UNBOUNDED_TEXT and not action.using:
            return
        table = display(action.table or "")
        column = action.column
        yield Violation(
            f"changing {table}.{column} to {action.type_text} rewrites (or scans) {table} and "
            f"rebuilds its indexes under an ACCESS EXCLUSIVE lock: all queries on {table} wait.",
            f"1. expand: ALTER TABLE {table} ADD COLUMN {column}_new {action.type_text}; plus a "
            f"trigger copying {column} into {column}_new;  2. backfill {column}_new in batches;  "
            f"3. switch reads and writes to {column}_new;  4. contract: drop {column} and "
            f"rename (retire {table}.{column} in migration.toml).",
        )
