"""``retype_column``: change a column's type in place — same name, no rewrite under lock.

For ``integer`` ids running out (a primary key, its identity or serial
sequence, and every foreign key pointing at it), ``varchar(n)`` -> ``text``,
``timestamp`` -> ``timestamptz``: the application does not change at all.
Each table involved (the column's, and each referencing one) gets a shadow
column of the new type kept equal by a trigger (retype_side), filled by the
backfill runner, indexed and constrained CONCURRENTLY / NOT VALID; then one
short transaction swaps the names (retype_swap). Every phase is undone until
contract; undoing switch-writes is the reverse swap.

Planned without a database: what the swap moves is declared in the manifest
and checked against the catalog before expand (retype_checks).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from expandctl.model.ops import checks, concurrent_index, retype_checks
from expandctl.model.ops.backfill_workers import BackfillWorkers
from expandctl.model.ops.base import (
    PlanContext,
    SqlText,
    SqlType,
    TableOperation,
    backfill,
    check_steps,
    generated_name,
    source,
    sql,
)
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.ops.retype_fields import CheckConstraint, Referencing
from expandctl.model.ops.retype_side import Side, TableRef, integer_range
from expandctl.model.ops.retype_swap import Swap, accepted
from expandctl.model.ops.validated_constraint import add_not_valid, drop_constraint, validate
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject
from expandctl.model.sql_quote import quote_ident
from expandctl.model.steps import SqlStep, Step

_LOCKED_ALREADY = (
    "the group's LOCK TABLE took every table first; dropping a constraint is catalog-only"
)
_SEQUENCE_TYPES = {"smallint", "int2", "integer", "int", "int4", "bigint", "int8"}


class RetypeColumn(TableOperation, BackfillWorkers):
    """``op = "retype_column"``: ``column`` becomes ``type``, keeping its name."""

    op: Literal["retype_column"]
    column: str = Field(min_length=1)
    from_type: SqlType = Field(description="the column's current type (checked)")
    type: SqlType = Field(description="the new type, e.g. bigint")
    using: SqlText | None = Field(
        default=None, description="SQL over the row giving the new value (default: CAST)"
    )
    down: SqlText | None = Field(
        default=None,
        description="SQL over the row giving the old-typed value, NULL if it cannot be held"
        " (default: a guarded CAST)",
    )
    not_null: bool = False
    primary_key: str | None = Field(default=None, min_length=1, description="its constraint name")
    identity: Literal["always", "by default"] | None = None
    sequence: str | None = Field(default=None, min_length=1, description="serial/identity sequence")
    default: SqlText | None = Field(default=None, description="the column's default (SQL)")
    new_default: SqlText | None = Field(
        default=None, description="the default after the swap, if not the same SQL"
    )
    unique: list[str] = Field(default_factory=list, description="unique constraints on it")
    indexes: list[str] = Field(default_factory=list, description="plain indexes on it")
    check_constraints: list[CheckConstraint] = Field(default_factory=list, alias="checks")
    referenced_by: list[Referencing] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> RetypeColumn:
        numeric_sequence = " ".join(self.type.lower().split()) in _SEQUENCE_TYPES
        if (self.identity or self.sequence) and not numeric_sequence:
            raise ValueError("identity and sequence need an integer type (smallint/integer/bigint)")
        if self.default is not None and (self.identity or self.sequence):
            raise ValueError("default is for plain defaults: a serial column sets sequence only")
        if self.new_default is not None and self.default is None:
            raise ValueError("new_default replaces default: set default (the current one) too")
        if self.referenced_by and not (self.primary_key or self.unique):
            raise ValueError("referenced_by needs the key it references: set primary_key or unique")
        return self

    # --- what the operation consists of ---

    @property
    def sequence_name(self) -> str | None:
        if self.sequence is None and self.identity is not None:
            return f"{self.table}_{self.column}_seq"  # what PostgreSQL names it
        return self.sequence

    def main(self) -> Side:
        return Side(
            table=TableRef(table=self.table, schema_=self.schema_),
            column=self.column,
            from_type=self.from_type,
            type=self.type,
            up=self.using,
            down=self.down,
            not_null=self.not_null or self.primary_key is not None,
            indexes=tuple(self.indexes),
        )

    def referencing(self) -> list[tuple[Referencing, Side]]:
        return [
            (
                ref,
                Side(
                    table=TableRef(table=ref.table, schema_=ref.schema_),
                    column=ref.column,
                    from_type=self.from_type,
                    type=self.type,
                    up=None,
                    down=None,
                    not_null=ref.not_null,
                    indexes=tuple(ref.indexes),
                ),
            )
            for ref in self.referenced_by
        ]

    def sides(self) -> list[Side]:
        """Referencing tables first: the order clients lock them in (an insert into orders
        then checks accounts), so a phase's locks never close a deadlock cycle."""
        return [*(side for _, side in self.referencing()), self.main()]

    def swap(self) -> Swap:
        return Swap(self, self.main(), self.referencing())

    def unique_keys(self) -> list[tuple[str, str]]:
        """(constraint, kind) of the unique keys: rebuilt as unique indexes on the shadow."""
        found = [(self.primary_key, "PRIMARY KEY")] if self.primary_key else []
        return found + [(name, "UNIQUE") for name in self.unique]

    def backfill_count(self) -> int:
        return len(self.referenced_by) + 1

    # --- catalog preconditions ---

    def checks(self, ctx: PlanContext) -> list[CatalogCheck]:
        main = self.main()
        s, t, c = self.schema_, self.table, self.column
        found = self._side_checks(main, ctx)
        found += [
            retype_checks.constraints_are(
                s, t, c, "p", self._names([self.primary_key]), "primary_key"
            ),
            retype_checks.constraints_are(s, t, c, "u", self.unique, "unique"),
            retype_checks.constraints_are(
                s, t, c, "c", [k.name for k in self.check_constraints], "checks"
            ),
            retype_checks.single_column(s, t, c),
            retype_checks.identity_is(s, t, c, self.identity),
            retype_checks.sequence_is(s, t, c, self.sequence_name),
            retype_checks.has_default(
                s,
                t,
                c,
                self.default is not None or (self.sequence is not None and not self.identity),
            ),
            checks.column_without_foreign_key(
                s, t, c, hint="retype_column does not move a foreign key of the column itself"
            ),
            retype_checks.referencing_key_count(
                s, t, c, [f"{r.table}.{r.constraint_name}" for r in self.referenced_by]
            ),
        ]
        for ref, side in self.referencing():
            found += self._side_checks(side, ctx)
            rs, rt, rc = ref.schema_, ref.table, ref.column
            found += [
                retype_checks.foreign_key_is(
                    rs, rt, rc, ref.constraint_name, (s, t, c), ref.on_delete
                ),
                retype_checks.constraints_are(rs, rt, rc, "p", [], "primary_key"),
                retype_checks.constraints_are(rs, rt, rc, "u", [], "unique"),
                retype_checks.constraints_are(rs, rt, rc, "c", [], "checks"),
                retype_checks.identity_is(rs, rt, rc, None),
                retype_checks.has_default(rs, rt, rc, False),
            ]
        return found

    @staticmethod
    def _names(names: list[str | None]) -> list[str]:
        return [n for n in names if n]

    def _side_checks(self, side: Side, ctx: PlanContext) -> list[CatalogCheck]:
        s, t, c = side.table.schema_, side.table.table, side.column
        return [
            checks.table_exists(s, t),
            checks.column_exists(s, t, c),
            checks.column_type_is(s, t, c, self.from_type),
            checks.column_absent(s, t, side.shadow(ctx)),
            checks.column_absent(s, t, side.old(ctx)),
            retype_checks.not_null_is(s, t, c, side.not_null),
            retype_checks.indexes_are(s, t, c, list(side.indexes)),
            retype_checks.no_dependent_views(s, t, c),
        ]

    # --- phases ---

    def forward(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            steps: list[Step] = [*check_steps(self, ctx)]
            for number, side in enumerate(self.sides()):
                check_up = side.check_up(ctx)
                steps += [
                    self._next_table(side.add_shadow(ctx), number),
                    *([check_up] if check_up else []),
                    side.sync_function(ctx, swapped=False, replace=False),
                    side.create_trigger(ctx),
                ]
            return steps
        if phase is Phase.BACKFILL:
            return [
                backfill(ctx, side.backfill_spec(ctx), offset)
                for offset, side in enumerate(self.sides())
            ]
        if phase is Phase.SWITCH_READS:
            steps = []
            for side in self.sides():
                query, message = side.no_stale_rows(ctx)
                steps.append(
                    CatalogCheck(
                        sql=query,
                        message=message,
                        hint="run the backfill phase to completion first",
                    ).step(source(self, ctx))
                )
                if side.not_null:
                    steps += side.add_not_null_helper(ctx, "new", side.shadow(ctx))
                steps += self.index_copies(ctx, side, "new", plain=True)
            steps += self.foreign_key_copies(ctx)
            return steps
        if phase is Phase.SWITCH_WRITES:
            return self.swap().forward(ctx)
        if phase is Phase.CONTRACT:
            steps = []
            for number, side in enumerate(self.sides()):
                trigger, function = side.drop_sync(ctx)
                steps += [self._next_table(trigger, number), function]
                steps.append(side.drop_column(ctx, side.old(ctx)))
            return steps
        return []

    def reverse(self, phase: Phase, ctx: PlanContext) -> list[Step]:
        if phase is Phase.EXPAND:
            steps: list[Step] = []
            for number, side in enumerate(self.sides()):
                trigger, function = side.drop_sync(ctx)
                steps += [self._next_table(trigger, number), function]
                steps.append(side.drop_column(ctx, side.shadow(ctx)))
            return steps
        if phase is Phase.SWITCH_READS:
            steps = [self.lock_tables(ctx)] if self.referenced_by else []
            # Every table is locked by the LOCK TABLE above: each drop is catalog-only.
            steps += [
                drop_constraint(side.table, ctx, self.foreign_key_copy(ctx, ref)).model_copy(
                    update={"accepted": accepted("L114", _LOCKED_ALREADY)}
                )
                for ref, side in self.referencing()
            ]
            for side in self.sides():
                names = [n for n, _ in self.unique_keys()] if side == self.main() else []
                for name in [*names, *side.indexes]:
                    index = side.table.in_schema(side.index_copy(ctx, name, "new"))
                    steps.append(concurrent_index.drop(side.table, ctx, index))
                if side.not_null:
                    steps.append(side.drop_not_null_helper(ctx, "new"))
            return steps
        if phase is Phase.SWITCH_WRITES:
            return self.swap().reverse(ctx)
        return []

    @staticmethod
    def _next_table(step: Step, number: int) -> Step:
        """The second table of a multi-table group is where the lint gate sees the first
        table's lock held while waiting for another: the reason goes there."""
        if number != 1 or not isinstance(step, SqlStep):
            return step
        why = (
            "catalog-only statements; waiting for this table's lock holds the earlier ones"
            " at most lock_timeout, then the group is retried"
        )
        return step.model_copy(update={"accepted": (*step.accepted, *accepted("L114", why))})

    def lock_tables(self, ctx: PlanContext) -> Step:
        """A group changing several tables locks them all first, referencing tables first."""
        tables = ", ".join(side.table.target for side in self.sides())
        return sql(
            self,
            ctx,
            f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE",
            accepted=accepted(
                "L110",
                "one lock order for the tables of this short catalog-only transaction,"
                " referencing tables first as clients lock them: no deadlock;"
                " lock_timeout and retries bound the wait",
            ),
        )

    # --- the switch-reads copies, also rebuilt by the reverse swap ---

    def foreign_key_copy(self, ctx: PlanContext, ref: Referencing) -> str:
        return generated_name(ctx, ref.table, ref.column, "fkey")

    def index_copies(self, ctx: PlanContext, side: Side, which: str, *, plain: bool) -> list[Step]:
        """Unique indexes for the keys (main side) and, if ``plain``, the plain indexes,
        built CONCURRENTLY on the shadow (``new``) or on the old-typed column (``old``)."""
        column = side.shadow(ctx) if which == "new" else side.old(ctx)
        steps: list[Step] = []
        if side == self.main():
            for name, _ in self.unique_keys():
                copy = side.index_copy(ctx, name, which)
                steps.append(concurrent_index.create(side.table, ctx, copy, [column], unique=True))
        if plain:
            for name in side.indexes:
                copy = side.index_copy(ctx, name, which)
                steps.append(concurrent_index.create(side.table, ctx, copy, [column]))
        return steps

    def foreign_key_copies(self, ctx: PlanContext) -> list[Step]:
        """Each referencing shadow references the main shadow: NOT VALID, then VALIDATE."""
        main = self.main()
        steps: list[Step] = []
        for ref, side in self.referencing():
            name = self.foreign_key_copy(ctx, ref)
            definition = (
                f"FOREIGN KEY ({quote_ident(side.shadow(ctx))}) REFERENCES {main.table.target}"
                f" ({quote_ident(main.shadow(ctx))}) ON DELETE {ref.on_delete.upper()}"
            )
            steps += [
                add_not_valid(side.table, ctx, name, definition),
                validate(side.table, ctx, name),
            ]
        return steps

    def sequence_fits(self) -> tuple[str, str] | None:
        """(query, message): the sequence has not gone past what the old type holds."""
        bounds = integer_range(self.from_type)
        if self.sequence_name is None or bounds is None:
            return None
        seq = self.in_schema(self.sequence_name)
        return (
            f"SELECT last_value <= {bounds[1]} FROM {seq}",  # noqa: S608 -- quoted name
            f"sequence {self.sequence_name} is past what {self.from_type} holds:"
            " rolling back the swap would break inserts",
        )

    # --- contract ---

    def retires(self, ctx: PlanContext) -> list[RetiredObject]:
        found: list[RetiredObject] = []
        for side in self.sides():
            table = side.table
            found += [
                table.retired(ObjectKind.COLUMN, table.table, side.old(ctx)),
                table.retired(ObjectKind.FUNCTION, side.function(ctx)),
                table.retired(ObjectKind.TRIGGER, side.function(ctx)),
            ]
        return found
