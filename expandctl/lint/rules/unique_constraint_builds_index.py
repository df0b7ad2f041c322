"""L105 unique-constraint-builds-index."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn, AddConstraint
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class UniqueConstraintBuildsIndex(Rule):
    """Adding a UNIQUE or PRIMARY KEY constraint that builds its index under the table lock.

    Lock or breakage: ``ADD UNIQUE (...)`` / ``ADD PRIMARY KEY (...)`` builds
    a unique index while holding an ACCESS EXCLUSIVE lock on the table: every
    query waits for the whole build.

    Safe alternative: build the index first with ``CREATE UNIQUE INDEX
    CONCURRENTLY``, then attach it with ``ADD CONSTRAINT ... UNIQUE USING
    INDEX`` (or ``PRIMARY KEY USING INDEX``), which only takes a brief lock.

    Bad:
        ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);

    Good:
        CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
        ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;
    """

    id = "L105"
    name = "unique-constraint-builds-index"
    group = "locking"
    actions = (AddConstraint, AddColumn)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if isinstance(action, AddColumn):
            yield from _inline(action, ctx)
            return
        assert isinstance(action, AddConstraint)
        if action.kind not in ("unique", "primary key") or action.using_index:
            return
        if ctx.is_new_table(action.table):
            return
        table = display(action.table or "")
        name = action.name or f"{table}_{'pkey' if action.kind == 'primary key' else 'key'}"
        columns = (
            action.definition.split("(", 1)[1].split(")", 1)[0]
            if "(" in action.definition
            else "..."
        )
        kind = action.kind.upper()
        yield Violation(
            f"ADD {kind} builds a unique index on {table} while holding an ACCESS EXCLUSIVE "
            f"lock: every query on {table} waits for the whole build.",
            f"1. CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({columns});  "
            f"2. ALTER TABLE {table} ADD CONSTRAINT {name} {kind} USING INDEX {name};",
        )


def _inline(action: AddColumn, ctx: LintContext) -> Iterator[Violation]:
    """``ADD COLUMN ... UNIQUE`` / ``PRIMARY KEY``: the index is built under the lock."""
    col = action.column
    if ctx.is_new_table(action.table) or not (col.unique or col.primary_key):
        return
    table = display(action.table or "")
    kind = "PRIMARY KEY" if col.primary_key else "UNIQUE"
    name = f"{table}_{col.name}_key"
    yield Violation(
        f"ADD COLUMN {col.name} ... {kind} builds a unique index on {table} while holding an "
        f"ACCESS EXCLUSIVE lock: every query on {table} waits for the whole build.",
        f"1. ALTER TABLE {table} ADD COLUMN {col.name} {col.type_text};  2. CREATE UNIQUE INDEX "
        f"CONCURRENTLY {name} ON {table} ({col.name});  3. ALTER TABLE {table} ADD CONSTRAINT "
        f"{name} {kind} USING INDEX {name};",
    )
