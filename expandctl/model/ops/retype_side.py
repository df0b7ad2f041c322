"""One table's half of an in-place type change: its column, its shadow, its sync.

retype_column changes a column's type without changing its name: a shadow
column of the new type is kept equal to it, filled, indexed, then swapped in
by renames. The referenced table and every referencing table go through the
same moves, so each is described by one Side: the names it uses and the
statements that add, fill, check, swap and drop its shadow.

Before the swap the sync trigger sets ``shadow = up(column)`` on every write
(the application only ever writes ``column``); after it, the old-typed column
(renamed) is kept as ``down(column)``, NULL where the old type cannot hold the
value, so a rollback finds it correct or refuses to lose what it cannot hold.
"""

# ruff: noqa: S608 -- generating SQL is this module's job: names go through
# quote_ident, expressions are the developer's SQL and the linter checks them.
from __future__ import annotations

import re
from dataclasses import dataclass

from expandctl.model.backfill import BackfillSpec
from expandctl.model.ops.base import PlanContext, TableOperation, generated_name, sql
from expandctl.model.ops.validated_constraint import add_not_valid, drop_constraint, validate
from expandctl.model.sql_quote import dollar_quote, quote_ident
from expandctl.model.steps import Step


class TableRef(TableOperation):
    """A table the operation touches besides its own (a referencing table)."""


_INT_RANGES = {
    "smallint": (-32768, 32767),
    "int2": (-32768, 32767),
    "integer": (-2147483648, 2147483647),
    "int": (-2147483648, 2147483647),
    "int4": (-2147483648, 2147483647),
}
_LIMITED_TEXT = re.compile(
    r"^(?:character varying|varchar|character|char)\s*\(\s*(\d+)\s*\)$", re.I
)


def integer_range(type_sql: str) -> tuple[int, int] | None:
    """The value range of a narrow integer type (``integer`` -> 32-bit), else None."""
    return _INT_RANGES.get(" ".join(type_sql.lower().split()))


def guarded_down(value: str, from_type: str) -> str:
    """``value`` cast back to the old type, or NULL where that type cannot hold it.

    A plain CAST would fail the writer's statement (bigint -> integer past 2^31)
    or silently truncate (text -> varchar(n)); the old column is only kept for a
    rollback, which refuses while such NULLs exist.
    """
    bounds = integer_range(from_type)
    if bounds is not None:
        low, high = bounds
        return f"CASE WHEN {value} BETWEEN {low} AND {high} THEN CAST({value} AS {from_type}) END"
    limited = _LIMITED_TEXT.match(from_type.strip())
    if limited:
        return (
            f"CASE WHEN char_length({value}) <= {limited.group(1)}"
            f" THEN CAST({value} AS {from_type}) END"
        )
    return f"CAST({value} AS {from_type})"


@dataclass(frozen=True)
class Side:
    table: TableRef
    column: str
    from_type: str
    type: str
    up: str | None  # SQL over the row giving the new value; None: a plain CAST
    down: str | None  # SQL over the row (column now new) giving the old value; None: guarded
    not_null: bool
    indexes: tuple[str, ...]  # plain one-column indexes, rebuilt on the shadow

    # --- names (as PostgreSQL stores them) ---

    def shadow(self, ctx: PlanContext) -> str:
        return generated_name(ctx, self.column, "new")

    def old(self, ctx: PlanContext) -> str:
        return generated_name(ctx, self.column, "old")

    def function(self, ctx: PlanContext) -> str:
        return generated_name(ctx, self.table.table, self.column, "retype")

    def not_null_helper(self, ctx: PlanContext, which: str) -> str:
        return generated_name(ctx, self.table.table, self.column, which, "not_null")

    # --- expressions ---

    def up_sql(self, ctx: PlanContext, row: str = "") -> str:
        """up(column) as SQL over a table row (``row``: a prefix such as ``NEW.``)."""
        if self.up is None:
            return f"CAST({row}{quote_ident(self.column)} AS {self.type})"
        return f"CAST(({self.up}) AS {self.type})"

    def stale(self, ctx: PlanContext) -> str:
        return f"{quote_ident(self.shadow(ctx))} IS DISTINCT FROM {self.up_sql(ctx)}"

    # --- statements ---

    def add_shadow(self, ctx: PlanContext) -> Step:
        return sql(
            self.table,
            ctx,
            f"ALTER TABLE {self.table.target} ADD COLUMN {quote_ident(self.shadow(ctx))}"
            f" {self.type}",
        )

    def check_up(self, ctx: PlanContext) -> Step | None:
        """A developer's ``up`` planned over the table now: a typo fails expand, not a writer."""
        if self.up is None:
            return None
        return sql(
            self.table,
            ctx,
            "-- up must make sense over the table before any write depends on it\n"
            f"SELECT {self.up_sql(ctx)} FROM {self.table.target} LIMIT 0",
        )

    def sync_function(self, ctx: PlanContext, *, swapped: bool, replace: bool) -> Step:
        """Before the swap: shadow := up(column). After: old := down(column)."""
        column = f"NEW.{quote_ident(self.column)}"
        if swapped:
            target = f"NEW.{quote_ident(self.old(ctx))}"
            value = (
                guarded_down(column, self.from_type)
                if self.down is None
                else f"(SELECT {self.down} FROM (SELECT NEW.*) AS r)"
            )
            why = f"keeps {self.table.display}.{self.column}'s old-typed copy for a rollback"
        else:
            target = f"NEW.{quote_ident(self.shadow(ctx))}"
            value = (
                self.up_sql(ctx, "NEW.")
                if self.up is None
                else f"(SELECT {self.up_sql(ctx)} FROM (SELECT NEW.*) AS r)"
            )
            why = f"keeps {self.table.display}.{self.column}'s {self.type} shadow equal to it"
        body = (
            f"\n#variable_conflict use_column\nBEGIN\n  {target} := {value};\n  RETURN NEW;\nEND\n"
        )
        verb = "CREATE OR REPLACE FUNCTION" if replace else "CREATE FUNCTION"
        return sql(
            self.table,
            ctx,
            f"-- {why}\n{verb} {self.table.in_schema(self.function(ctx))}() RETURNS trigger"
            f" LANGUAGE plpgsql AS {dollar_quote(body)}",
        )

    def create_trigger(self, ctx: PlanContext) -> Step:
        clause = "EXECUTE FUNCTION" if ctx.server_version >= 11 else "EXECUTE PROCEDURE"
        return sql(
            self.table,
            ctx,
            f"CREATE TRIGGER {quote_ident(self.function(ctx))} BEFORE INSERT OR UPDATE"
            f" ON {self.table.target} FOR EACH ROW {clause}"
            f" {self.table.in_schema(self.function(ctx))}()",
        )

    def drop_sync(self, ctx: PlanContext) -> list[Step]:
        name = self.function(ctx)
        return [
            sql(
                self.table,
                ctx,
                f"DROP TRIGGER IF EXISTS {quote_ident(name)} ON {self.table.target}",
            ),
            sql(self.table, ctx, f"DROP FUNCTION IF EXISTS {self.table.in_schema(name)}()"),
        ]

    def drop_column(self, ctx: PlanContext, name: str) -> Step:
        return sql(
            self.table,
            ctx,
            f"ALTER TABLE {self.table.target} DROP COLUMN IF EXISTS {quote_ident(name)}",
        )

    def backfill_spec(self, ctx: PlanContext) -> BackfillSpec:
        return BackfillSpec(
            table=self.table.target,
            set={self.shadow(ctx): self.up_sql(ctx)},
            where=self.stale(ctx),
        )

    def no_stale_rows(self, ctx: PlanContext) -> tuple[str, str]:
        """(query, message) of the switch-reads check that the backfill is complete."""
        return (
            f"SELECT NOT EXISTS (SELECT 1 FROM {self.table.target} WHERE {self.stale(ctx)})",
            f"{self.table.display} still has rows whose {self.column} shadow does not match it",
        )

    def nothing_lost(self, ctx: PlanContext) -> tuple[str, str]:
        """(query, message) of the rollback check: the old-typed copy holds every value."""
        old, column = quote_ident(self.old(ctx)), quote_ident(self.column)
        return (
            f"SELECT NOT EXISTS (SELECT 1 FROM {self.table.target}"
            f" WHERE {old} IS NULL AND {column} IS NOT NULL)",
            f"{self.table.display}.{self.column} holds values its old type {self.from_type}"
            " cannot hold: rolling back the swap would lose them",
        )

    def index_copy(self, ctx: PlanContext, index: str, side: str) -> str:
        """The name of an index's copy on the shadow (``new``) or old column (``old``)."""
        return generated_name(ctx, index, side)

    # --- NOT NULL moved without a scan: a validated helper check proves it ---

    def add_not_null_helper(self, ctx: PlanContext, which: str, column: str) -> list[Step]:
        name = self.not_null_helper(ctx, which)
        return [
            add_not_valid(self.table, ctx, name, f"CHECK ({quote_ident(column)} IS NOT NULL)"),
            validate(self.table, ctx, name),
        ]

    def drop_not_null_helper(self, ctx: PlanContext, which: str) -> Step:
        return drop_constraint(self.table, ctx, self.not_null_helper(ctx, which))
