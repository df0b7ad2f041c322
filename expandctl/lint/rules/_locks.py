"""Shared by the two 'strong lock held across statements' rules (L111, L114)."""

from __future__ import annotations

import re

from expandctl.lint import actions as a
from expandctl.lint.context import LintContext, norm
from expandctl.lint.rules.add_column_rewrite import rewrite_reason
from expandctl.lint.source import Statement

# Migration tools record the applied version in the same transaction; that
# one-row write is part of every tool's pattern and takes no time.
BOOKKEEPING_TABLES = frozenset(
    {
        "alembic_version", "django_migrations", "flyway_schema_history", "schema_migrations",
        "goose_db_version", "knex_migrations", "schema_version", "__diesel_schema_migrations",
    }
)  # fmt: skip
# Catalog-only changes: instant once the lock on their table is held.
_CATALOG_ONLY = (
    a.DropColumn, a.Rename, a.DropDefault, a.DropNotNull, a.OtherAlterTable, a.DropConstraint,
    a.SetSchema,
)  # fmt: skip
_LIMIT_ZERO = re.compile(r"\bLIMIT\s+0\s*$", re.IGNORECASE)
_READS_ROWS = re.compile(r"\bSELECT\b|\bTABLE\b", re.IGNORECASE)
# Catalog-only or lock-free statements: GRANT takes no lock on the table at
# all (checked on PostgreSQL 15), SET and COMMENT touch no table.
_INSTANT_HARMLESS = frozenset({"SET", "RESET", "COMMENT", "SAVEPOINT", "RELEASE", "GRANT"})
_INSTANT_DROPS = frozenset({"function", "procedure"})  # no lock on any table


def lock_words(ctx: LintContext) -> tuple[str, str]:
    """The held lock's mode and whom it blocks, for messages."""
    holder = ctx.lock_holder()
    mode = holder.exclusive_mode if holder is not None else "ACCESS EXCLUSIVE"
    return mode, ("all queries" if mode == "ACCESS EXCLUSIVE" else "all writes")


def held_lock(ctx: LintContext, statement: Statement, action: a.Action) -> str | None:
    """The table whose strong lock this statement would prolong, if it does.

    Reported once per transaction, on the first statement that is not instant.
    """
    holder = ctx.lock_holder()
    if holder is None or holder.exclusive_table is None or holder.exclusive_reported:
        return None
    if isinstance(action, a.EndTransaction) or action is not statement.actions[0]:
        return None
    if holder is ctx.group and ctx.runs_alone:
        return None  # runs alone, after the group committed
    held = holder.exclusive_table
    if all(_instant(x, ctx, held, statement) for x in statement.actions):
        return None
    holder.exclusive_reported = True
    return held


def _instant(action: a.Action, ctx: LintContext, held: str, statement: Statement) -> bool:
    """True when the action neither scans, writes rows, nor waits for another table's lock."""
    same_table = action.table is not None and norm(action.table) == norm(held)
    if isinstance(action, a.DropObjects) and action.kind == "table":
        return _drops_untouched_tables(action, ctx, held)
    for other in _other_tables_locked(action, ctx):
        if not (norm(other) == norm(held) or ctx.no_traffic_on(other)):
            return False  # it queues for that table's lock while every query on held waits
    if isinstance(action, a.Harmless) and action.what == "INSERT":
        reads = _tables_read(statement)
        if reads is None or any(not ctx.no_traffic_on(t) for t in reads):
            return False  # INSERT ... SELECT scans what it reads, under the held lock
    if action.table is not None and ctx.is_new_table(action.table):
        return True
    if isinstance(action, a.Revoke):
        return True  # like GRANT: a catalog change, no table lock
    if isinstance(action, a.DropObjects) and action.kind in _INSTANT_DROPS:
        return True
    if isinstance(action, a.DropObjects) and action.kind == "trigger":
        return same_table or (action.table is not None and ctx.no_traffic_on(action.table))
    if isinstance(action, a.Dynamic):
        # the operations' precondition checks: read the catalog, raise or do nothing
        return action.catalog_check
    if isinstance(action, a.CreateTable):
        return not action.as_query  # an empty new table; AS query reads rows
    if isinstance(action, a.Harmless):
        if action.what in _INSTANT_HARMLESS:
            return True
        if action.what == "SELECT" and _LIMIT_ZERO.search(statement.sql.text):
            return True  # a shape check: plans, reads no row
        return action.table is not None and norm(action.table) in BOOKKEEPING_TABLES
    if isinstance(action, a.WriteRows):
        return action.table is not None and norm(action.table) in BOOKKEEPING_TABLES
    if isinstance(action, a.CreateObject):
        return action.table is None or same_table
    if isinstance(action, a.AddColumn):
        col = action.column
        plain = not (col.references or col.check or col.unique or col.primary_key)
        return same_table and plain and rewrite_reason(action, ctx.pg_version) is None
    if isinstance(action, a.AddConstraint):
        # NOT VALID: no scan. A foreign key's lock on the table it references
        # (SHARE ROW EXCLUSIVE) was judged above.
        return same_table and action.not_valid and action.kind in ("check", "foreign key")
    if isinstance(action, a.SetNotNull):
        proven = (norm(held), action.column) in ctx.validated_not_null
        return same_table and proven and ctx.pg_version >= 12
    return same_table and isinstance(action, _CATALOG_ONLY)


def _other_tables_locked(action: a.Action, ctx: LintContext) -> tuple[str, ...]:
    """Tables besides its own the action locks: what a new foreign key references, a parent."""
    if isinstance(action, a.AddConstraint) and action.kind == "foreign key":
        return (action.references or "?",)  # unread: assume a busy table
    if isinstance(action, a.AddColumn) and action.column.references:
        return (action.column.references,)
    if isinstance(action, a.CreateTable):
        return action.links
    if isinstance(action, a.DropConstraint):
        target = ctx.foreign_key_target(action.table, action.name)
        return (target,) if target else ()
    return ()


def _drops_untouched_tables(action: a.DropObjects, ctx: LintContext, held: str) -> bool:
    """DROP TABLE of tables no running query uses: instant, however many rows they hold.

    The files are unlinked at commit, so the time is in the locks: on each
    dropped table, on what its foreign keys reference and on its parent
    (PostgreSQL takes ACCESS EXCLUSIVE on those too), and with CASCADE on
    whatever depends on it. Each must be the lock already held or a table
    without traffic.
    """
    if action.cascade or not action.names:
        return False
    linked = {t for name in action.names for t in ctx.linked_tables.get(norm(name), ())}
    return all(
        norm(table) == norm(held) or ctx.no_traffic_on(table) for table in (*action.names, *linked)
    )


def _tables_read(statement: Statement) -> tuple[str, ...] | None:
    """The tables an INSERT reads rows from (not its target); None if unreadable."""
    text = statement.sql.text
    if not _READS_ROWS.search(text):
        return ()  # INSERT ... VALUES / DEFAULT VALUES: the rows are in the text
    from expandctl.lint.tree_actions import tables_read_by_insert  # loads sqlglot

    return tables_read_by_insert(text)
