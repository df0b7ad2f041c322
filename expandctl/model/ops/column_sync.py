"""The shared machinery of rename_column, change_column_type and replace_column.

Old columns O are replaced by new columns N, with ``N = up(O)`` and
``O = down(N)``. While both app versions run, a BEFORE INSERT OR UPDATE row
trigger keeps the two shapes equal, whichever one a writer set:

- expand: add N (nullable), the sync function (old side wins a conflict) and
  its trigger, so every write from now on is mirrored;
- backfill: set N = up(O) for the existing rows, in keyset batches;
- switch-reads: check no row is left with N distinct from up(O); carry NOT NULL
  over (CHECK ... NOT VALID, then VALIDATE), a foreign key (NOT VALID, then
  VALIDATE) and uniqueness (index CONCURRENTLY);
- switch-writes: replace the function so the new side wins a conflict; old
  columns keep being derived from N, so a rollback finds them correct;
- contract: drop the trigger, the function and O; SET NOT NULL on N (instant:
  the validated check proves it) and drop the helper check.

An old column's default moves to the new side in expand (an insert omitting
the old column must not look like an old-side write), and the catalog checks
refuse to lose silently what the old column had (type, NOT NULL, uniqueness,
foreign keys).

Expressions (``up``/``down``) are SQL written by the developer. In the trigger
they are evaluated over ``(SELECT NEW.*) AS r``, so they name columns exactly
as they would in an UPDATE.
"""

# ruff: noqa: S608 -- generating SQL is this module's job: names go through
# quote_ident, expressions are the developer's SQL and the linter checks them.
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from expandctl.model.backfill import BackfillSpec
from expandctl.model.ops import checks, concurrent_index, not_null_check
from expandctl.model.ops.backfill_workers import BackfillWorkers
from expandctl.model.ops.base import (
    PlanContext,
    TableOperation,
    backfill,
    check_steps,
    generated_name,
    source,
    sql,
    trigger_clause,
)
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.ops.validated_constraint import add_not_valid, drop_constraint, validate
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject
from expandctl.model.sql_quote import dollar_quote, object_name, qualified, quote_ident
from expandctl.model.steps import AcceptedHazard, Step


@dataclass(frozen=True)
class OldColumn:
    name: str
    down: str  # SQL over the new columns giving this old column
    # Its current default, declared: expand drops it (the new side's default then
    # fills inserts, and the trigger derives this column); rolling back restores it.
    default: str | None = None


@dataclass(frozen=True)
class ForeignRef:
    """A foreign key the new column takes over from the old one."""

    table: str  # quoted, maybe schema-qualified
    column: str
    on_delete: str = "no action"


@dataclass(frozen=True)
class NewColumn:
    name: str
    type: str
    up: str  # SQL over the old columns giving this new column
    not_null: bool = False
    unique: bool = False
    default: str | None = None
    references: ForeignRef | None = None
    indexed: bool = False  # a plain index, rebuilt on the new column (unique implies one)


class CarriedForeignKey(BaseModel):
    """Fields for an operation whose old column has a foreign key the new one must keep."""

    references: str | None = Field(default=None, description="the referenced table")
    references_schema: str | None = None
    references_column: str = "id"
    on_delete: Literal["no action", "restrict", "cascade", "set null", "set default"] = "no action"

    def foreign_ref(self) -> ForeignRef | None:
        if self.references is None:
            return None
        return ForeignRef(
            qualified(self.references_schema, self.references),
            self.references_column,
            self.on_delete,
        )


@dataclass(frozen=True)
class ColumnSync:
    op: TableOperation
    old: tuple[OldColumn, ...]
    new: tuple[NewColumn, ...]
    # Old NOT NULL columns whose replacement the operation did not declare NOT NULL:
    # refuse them before expand instead of silently dropping the constraint.
    carried_not_null: tuple[tuple[str, bool, str], ...] = ()
    default_option: str = "default"  # the operation's key that declares the old default
    # Facts the operation declares about the old column, checked against the catalog.
    declared_type: str | None = None  # rename_column: the column's type
    declared_unique: bool = False
    declared_indexed: bool = False
    foreign_key_hint: str = "set references = '<table>' so its replacement keeps it"

    # --- names ---

    def function_name(self, ctx: PlanContext) -> str:
        return generated_name(ctx, self.op.table, *(c.name for c in self.old), "sync")

    def unique_index(self, column: NewColumn) -> str:
        return object_name(self.op.table, column.name, "key" if column.unique else "idx")

    def _index_steps(self, ctx: PlanContext, column: NewColumn, *, drop: bool) -> list[Step]:
        """The new column's (unique) index, built or dropped CONCURRENTLY; none if not asked."""
        if not (column.unique or column.indexed):
            return []
        name = self.unique_index(column)
        if drop:
            return [concurrent_index.drop(self.op, ctx, self.op.in_schema(name))]
        return [concurrent_index.create(self.op, ctx, name, [column.name], unique=column.unique)]

    def foreign_key(self, column: NewColumn) -> str:
        return object_name(self.op.table, column.name, "fkey")

    # --- SQL pieces ---

    def _row(self, prefix: str, columns: tuple[OldColumn, ...] | tuple[NewColumn, ...]) -> str:
        return "ROW(" + ", ".join(f"{prefix}{quote_ident(c.name)}" for c in columns) + ")"

    def _up_row(self) -> str:
        return "ROW(" + ", ".join(f"CAST(({c.up}) AS {c.type})" for c in self.new) + ")"

    def _move_defaults(self, ctx: PlanContext) -> list[Step]:
        """New columns get their defaults; old ones lose theirs (the trigger fills them)."""
        changes = [
            f"ALTER COLUMN {quote_ident(c.name)} SET DEFAULT {c.default}"
            for c in self.new
            if c.default is not None
        ] + [f"ALTER COLUMN {quote_ident(c.name)} DROP DEFAULT" for c in self.old if c.default]
        if not changes:
            return []
        text = f"ALTER TABLE {self.op.target} " + ", ".join(changes)
        accepted: tuple[AcceptedHazard, ...] = ()
        if any(c.default for c in self.old):
            # Created in this same transaction, the trigger fills the old column before
            # PostgreSQL checks NOT NULL, so inserts that omit it keep working.
            accepted = (
                AcceptedHazard(rule_id="C209", reason="the sync trigger fills the old column"),
            )
        return [sql(self.op, ctx, text, accepted=accepted)]

    def _new_written_on_insert(self, news: str, new_now: str) -> str:
        if all(c.default is None for c in self.new):
            return f"num_nonnulls({news}) > 0"
        # A new column's declared default is what an insert that omits it gets: when
        # the old side was set, only a value other than the default counts as written.
        return (
            f"(NOT old_written AND num_nonnulls({news}) > 0)"
            f" OR {new_now} IS DISTINCT FROM {self._defaults_row()}"
        )

    def _defaults_row(self) -> str:
        values = [
            f"CAST(({c.default}) AS {c.type})"
            if c.default is not None
            else f"CAST(NULL AS {c.type})"
            for c in self.new
        ]
        return "ROW(" + ", ".join(values) + ")"

    def _expressions_check(self) -> str:
        """Plan (not run) every up/down over the table: a typo fails expand, not a client.

        The trigger's plpgsql would only compile them on the first write; this
        statement makes PostgreSQL resolve their columns, functions and casts now,
        inside expand's transaction, so a mistake rolls the whole phase back.
        """
        ups = [f"CAST(({c.up}) AS {c.type})" for c in self.new]
        downs = [f"({c.down})" for c in self.old]
        return (
            "-- up and down must make sense over the table before any write depends on them\n"
            f"SELECT {', '.join(ups + downs)} FROM {self.op.target} LIMIT 0"
        )

    def stale_condition(self) -> str:
        """True for a row whose new shape is not up(old shape)."""
        return f"{self._row('', self.new)} IS DISTINCT FROM {self._up_row()}"

    def _function(self, ctx: PlanContext, *, new_wins: bool, replace: bool) -> str:
        news = ", ".join(f"NEW.{quote_ident(c.name)}" for c in self.new)
        olds = ", ".join(f"NEW.{quote_ident(c.name)}" for c in self.old)
        compute_new = (
            f"SELECT {', '.join(c.up for c in self.new)} INTO {news} FROM (SELECT NEW.*) AS r;"
        )
        compute_old = (
            f"SELECT {', '.join(c.down for c in self.old)} INTO {olds} FROM (SELECT NEW.*) AS r;"
        )
        consistent = (
            f"(SELECT ROW({news}) IS NOT DISTINCT FROM {self._up_row()} FROM (SELECT NEW.*) AS r)"
        )
        if new_wins:
            decide = (
                f"  IF new_written THEN\n    IF NOT {consistent} THEN\n      {compute_old}\n"
                f"    END IF;\n  ELSIF old_written THEN\n    {compute_new}\n  END IF;\n"
            )
        else:
            decide = (
                f"  IF old_written THEN\n    {compute_new}\n"
                f"  ELSIF new_written AND NOT {consistent} THEN\n    {compute_old}\n  END IF;\n"
            )
        old_now = self._row("NEW.", self.old)
        new_now = self._row("NEW.", self.new)
        body = (
            "\n#variable_conflict use_column\n"
            "DECLARE\n  old_written boolean;\n  new_written boolean;\nBEGIN\n"
            "  -- Which shape did this writer set? Mirror it into the other one.\n"
            "  IF TG_OP = 'INSERT' THEN\n"
            f"    old_written := num_nonnulls({olds}) > 0;\n"
            f"    new_written := {self._new_written_on_insert(news, new_now)};\n"
            "  ELSE\n"
            f"    old_written := {old_now} IS DISTINCT FROM {self._row('OLD.', self.old)};\n"
            f"    new_written := {new_now} IS DISTINCT FROM {self._row('OLD.', self.new)};\n"
            "  END IF;\n"
            f"{decide}"
            "  RETURN NEW;\nEND\n"
        )
        verb = "CREATE OR REPLACE FUNCTION" if replace else "CREATE FUNCTION"
        winner = "new" if new_wins else "old"
        return (
            f"-- keeps {self.op.display} old and new columns equal; the {winner} side wins\n"
            f"{verb} {self.op.in_schema(self.function_name(ctx))}() RETURNS trigger"
            f" LANGUAGE plpgsql AS {dollar_quote(body)}"
        )

    def _drop_sync(self, ctx: PlanContext) -> list[Step]:
        """The trigger, then the function it calls: the columns stop being mirrored."""
        op, name = self.op, self.function_name(ctx)
        return [
            sql(op, ctx, f"DROP TRIGGER IF EXISTS {quote_ident(name)} ON {op.target}"),
            sql(op, ctx, f"DROP FUNCTION IF EXISTS {op.in_schema(name)}()"),
        ]

    def _drop_columns(
        self, ctx: PlanContext, columns: tuple[OldColumn, ...] | tuple[NewColumn, ...]
    ) -> Step:
        drops = ", ".join(f"DROP COLUMN IF EXISTS {quote_ident(c.name)}" for c in columns)
        return sql(self.op, ctx, f"ALTER TABLE {self.op.target} {drops}")

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        return [
            *(self.op.retired(ObjectKind.COLUMN, self.op.table, c.name) for c in self.old),
            self.op.retired(ObjectKind.FUNCTION, self.function_name(ctx)),
            self.op.retired(ObjectKind.TRIGGER, self.function_name(ctx)),
            *(not_null_check.retired(self.op, ctx, c.name) for c in self.new if c.not_null),
        ]

    # --- phases ---

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        schema, table = self.op.schema_, self.op.table
        found = [checks.table_exists(schema, table)]
        found += [checks.column_exists(schema, table, c.name) for c in self.old]
        found += [checks.column_absent(schema, table, c.name) for c in self.new]
        for c in self.old:
            found.append(checks.column_not_referenced(schema, table, c.name))
            if not self.declared_unique:
                found.append(checks.column_not_unique(schema, table, c.name))
            if not (self.declared_unique or self.declared_indexed):
                found.append(checks.column_not_indexed(schema, table, c.name))
            if not any(n.references for n in self.new):
                found.append(
                    checks.column_without_foreign_key(
                        schema, table, c.name, hint=self.foreign_key_hint
                    )
                )
        if self.declared_type is not None:
            found += [
                checks.column_type_is(schema, table, c.name, self.declared_type) for c in self.old
            ]
        # An undeclared default on an old column would make every insert look like
        # an old-side write, overriding what new code wrote: refuse it up front.
        found += [
            checks.column_has_no_default(
                schema,
                table,
                c.name,
                hint=f"declare it on the operation ({self.default_option} = '<its SQL>'):"
                " expandctl moves it to the new side while both shapes exist",
            )
            for c in self.old
            if c.default is None
        ]
        found += [
            checks.column_nullable(schema, table, name, option=opt)
            for name, declared, opt in self.carried_not_null
            if not declared
        ]
        return found

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        op, target = self.op, self.op.target
        function = self.op.in_schema(self.function_name(ctx))
        trigger = quote_ident(self.function_name(ctx))
        if phase is Phase.EXPAND:
            adds = ", ".join(f"ADD COLUMN {quote_ident(c.name)} {c.type}" for c in self.new)
            return [
                *check_steps(op, ctx),
                sql(op, ctx, f"ALTER TABLE {target} {adds}"),
                *self._move_defaults(ctx),
                sql(op, ctx, self._expressions_check()),
                sql(op, ctx, self._function(ctx, new_wins=False, replace=False)),
                sql(
                    op,
                    ctx,
                    f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {target}"
                    f" FOR EACH ROW {trigger_clause(ctx)} {function}()",
                ),
            ]
        if phase is Phase.BACKFILL:
            spec = BackfillSpec(
                table=target,
                set={c.name: f"CAST(({c.up}) AS {c.type})" for c in self.new},
                where=self.stale_condition(),
            )
            return [backfill(ctx, spec)]
        if phase is Phase.SWITCH_READS:
            steps: list[Step] = [
                checks.CatalogCheck(
                    sql=f"SELECT NOT EXISTS (SELECT 1 FROM {target}"
                    f" WHERE {self.stale_condition()})",
                    message=f"{op.display} still has rows whose new columns do not match"
                    " the old ones",
                    hint="run the backfill phase to completion first",
                ).step(source(op, ctx))
            ]
            for column in self.new:
                if column.not_null:
                    steps.extend(not_null_check.add(op, ctx, column.name))
                if column.references is not None:
                    ref = column.references
                    name = self.foreign_key(column)
                    definition = (
                        f"FOREIGN KEY ({quote_ident(column.name)}) REFERENCES {ref.table}"
                        f" ({quote_ident(ref.column)}) ON DELETE {ref.on_delete.upper()}"
                    )
                    steps.append(add_not_valid(op, ctx, name, definition))
                    steps.append(validate(op, ctx, name))
                steps.extend(self._index_steps(ctx, column, drop=False))
            return steps
        if phase is Phase.SWITCH_WRITES:
            return [sql(op, ctx, self._function(ctx, new_wins=True, replace=True))]
        if phase is Phase.CONTRACT:
            steps = [*self._drop_sync(ctx), self._drop_columns(ctx, self.old)]
            for column in self.new:
                if column.not_null:
                    steps.extend(not_null_check.promote(op, ctx, column.name))
            return steps
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        op, target = self.op, self.op.target
        if phase is Phase.EXPAND:
            restore = [
                f"ALTER COLUMN {quote_ident(c.name)} SET DEFAULT {c.default}"
                for c in self.old
                if c.default
            ]
            return [
                *self._drop_sync(ctx),
                *([sql(op, ctx, f"ALTER TABLE {target} " + ", ".join(restore))] if restore else []),
                self._drop_columns(ctx, self.new),
            ]
        if phase is Phase.SWITCH_READS:
            steps: list[Step] = []
            for column in reversed(self.new):
                if column.references is not None:
                    steps.append(drop_constraint(op, ctx, self.foreign_key(column)))
                steps.extend(self._index_steps(ctx, column, drop=True))
                if column.not_null:
                    steps.append(not_null_check.drop(op, ctx, column.name))
            return steps
        if phase is Phase.SWITCH_WRITES:
            return [sql(op, ctx, self._function(ctx, new_wins=False, replace=True))]
        return []


class ColumnSyncOperation(TableOperation, BackfillWorkers):
    """An operation planned entirely by its ColumnSync (rename_column, change_column_type, ...).

    Subclasses only describe their old and new columns in ``sync()``; every
    planning hook is the sync's, so the three operations cannot drift apart.
    """

    def sync(self) -> ColumnSync:
        raise NotImplementedError

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        return self.sync().checks(ctx)

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        return self.sync().forward(phase, ctx)

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        return self.sync().reverse(phase, ctx)

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        return self.sync().retires(ctx)

    def backfill_count(self) -> int:
        return 1  # the keyset backfill of the new columns
