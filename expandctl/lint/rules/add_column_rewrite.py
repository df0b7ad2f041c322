"""L108 add-column-rewrite."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class AddColumnRewrite(Rule):
    """``ADD COLUMN`` that must fill every row: volatile default, serial, identity, STORED.

    Lock or breakage: PostgreSQL 11+ stores a constant or stable default in
    the catalog, so adding such a column is instant. A volatile default
    (``random()``, ``gen_random_uuid()``, ``clock_timestamp()``, ``nextval``,
    a serial or identity column) or a ``GENERATED ... STORED`` column must
    compute a value per row: the table is rewritten under an ACCESS
    EXCLUSIVE lock and every query waits. Before PostgreSQL 11 any default
    rewrites.

    Safe alternative: add the column without a default (nullable), set the
    default for new rows with ``ALTER COLUMN ... SET DEFAULT`` in a separate
    statement, and backfill existing rows in batches.

    Bad:
        ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();

    Good:
        ALTER TABLE users ADD COLUMN token uuid;
        ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();
    """

    id = "L108"
    name = "add-column-rewrite"
    group = "locking"
    actions = (AddColumn,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, AddColumn)
        if ctx.is_new_table(action.table):
            return
        col = action.column
        table = display(action.table or "")
        reason = rewrite_reason(action, ctx.pg_version)
        if reason is None:
            return
        base_type = col.type_text
        if col.serial:
            base_type = {"BIGSERIAL": "bigint", "SERIAL8": "bigint"}.get(
                col.type_words[0], "integer"
            )
        default = f" SET DEFAULT {col.default}" if col.default else " SET DEFAULT ..."
        yield Violation(
            f"adding {table}.{col.name} with {reason} writes a value into every existing row: "
            f"{table} is rewritten under an ACCESS EXCLUSIVE lock and all queries on it wait.",
            f"1. ALTER TABLE {table} ADD COLUMN {col.name} {base_type};  "
            f"2. ALTER TABLE {table} ALTER COLUMN {col.name}{default};  "
            f"3. backfill existing rows in batches ([backfill] in migration.toml).",
        )


def rewrite_reason(action: AddColumn, pg_version: int) -> str | None:
    col = action.column
    if col.serial:
        return f"type {col.type_text} (a nextval() default)"
    if col.identity:
        return "an identity (GENERATED AS IDENTITY)"
    if col.generated_stored:
        return "a GENERATED ... STORED expression"
    if col.default is not None and col.default.upper() != "NULL":
        if pg_version < 11:
            return f"a default ({col.default}) on PostgreSQL {pg_version}"
        if col.default_volatile:
            return f"the volatile default {col.default}"
    return None
