"""The swap of retype_column: one short transaction that puts the shadows in place.

Switch-writes runs it; undoing switch-writes runs it backwards. Everything
slow happened before (shadows filled, unique and plain indexes built
CONCURRENTLY, NOT NULL proven by validated checks, foreign keys between the
shadows validated), so under the ACCESS EXCLUSIVE locks only catalog changes
remain: drop the keys of the outgoing column, rename outgoing <-> incoming,
turn the prebuilt indexes into the keys (``ADD PRIMARY KEY USING INDEX``),
move NOT NULL, the default and the identity or serial sequence, rename the
foreign keys, and turn the sync around. The engine runs the group under
``lock_timeout`` and retries it whole on a lock timeout.

The reverse swap first rebuilds, outside the lock, what the way back needs
(unique indexes on the old-typed column, NOT NULL proof), and afterwards what
switch-reads had built on the shadows, so the catalog ends exactly as before.
"""

from __future__ import annotations

from expandctl.model.ops.base import PlanContext, generated_name, source, sql
from expandctl.model.ops.checks import CatalogCheck
from expandctl.model.ops.retype_fields import Referencing, RetypeSubject
from expandctl.model.ops.retype_side import Side
from expandctl.model.ops.validated_constraint import add_not_valid, validate
from expandctl.model.sql_quote import quote_ident, quote_literal
from expandctl.model.steps import AcceptedHazard, Step


def accepted(rules: str, why: str) -> tuple[AcceptedHazard, ...]:
    """Lint findings a swap statement raises by design, with the reason it is safe."""
    return tuple(AcceptedHazard(rule_id=rule.strip(), reason=why) for rule in rules.split(","))


class Swap:
    def __init__(
        self, op: RetypeSubject, main: Side, referencing: list[tuple[Referencing, Side]]
    ) -> None:
        self.op = op
        self.main = main
        self.referencing = referencing

    def _sides(self) -> list[Side]:
        # Referencing tables first, as clients lock them (see RetypeColumn.sides).
        return [*(side for _, side in self.referencing), self.main]

    def _sql(
        self, ctx: PlanContext, side: Side, text: str, ok: tuple[AcceptedHazard, ...] = ()
    ) -> Step:
        return sql(side.table, ctx, text, accepted=ok)

    # --- switch-writes ---

    def forward(self, ctx: PlanContext) -> list[Step]:
        return [*self._transaction(ctx, forward=True), *self._validate_checks(ctx)]

    def reverse(self, ctx: PlanContext) -> list[Step]:
        steps: list[Step] = []
        for side in self._sides():
            query, message = side.nothing_lost(ctx)
            steps.append(self._refuse_unless(ctx, query, message))
        fits = self.op.sequence_fits()
        if fits is not None:
            steps.append(self._refuse_unless(ctx, *fits))
        # Outside the lock: what the way back needs.
        for side in self._sides():
            if side.not_null:
                steps += side.add_not_null_helper(ctx, "old", side.old(ctx))
        steps += self.op.index_copies(ctx, self.main, "old", plain=False)
        steps += self._transaction(ctx, forward=False)
        steps += self._validate_checks(ctx)
        for ref, side in self.referencing:
            steps.append(validate(side.table, ctx, ref.constraint_name))
        for side in self._sides():
            if side.not_null:
                steps.append(validate(side.table, ctx, side.not_null_helper(ctx, "new")))
        # What switch-reads had built on the shadows, which the keys consumed.
        steps += self.op.index_copies(ctx, self.main, "new", plain=False)
        steps += self.op.foreign_key_copies(ctx)
        return steps

    def _refuse_unless(self, ctx: PlanContext, query: str, message: str) -> Step:
        return CatalogCheck(
            sql=query,
            message=message,
            hint="change or delete those rows first, or keep going forward to contract",
        ).step(source(self.op, ctx))

    def _validate_checks(self, ctx: PlanContext) -> list[Step]:
        return [validate(self.main.table, ctx, k.name) for k in self.op.check_constraints]

    # --- the transaction ---

    def _transaction(self, ctx: PlanContext, *, forward: bool) -> list[Step]:
        """Forward: shadow in, old column out. Backward: the same moves undone.

        Renames come first, so the first statement that reaches another table or
        could be slow is a rename or a proven SET NOT NULL: the lint notes there
        say why holding the lock across them is fine.
        """
        incoming = "new" if forward else "old"  # which prebuilt copies become the keys
        main = self.main
        steps: list[Step] = [self.op.lock_tables(ctx)] if self.referencing else []
        for side in self._sides():
            steps += self._rename_columns(ctx, side, forward=forward)
        for ref, side in self.referencing:
            steps.append(
                self._sql(
                    ctx,
                    side,
                    f"ALTER TABLE {side.table.target}"
                    f" DROP CONSTRAINT {quote_ident(ref.constraint_name)}",
                )
            )
        keys = [name for name, _ in self.op.unique_keys()]
        keys += [k.name for k in self.op.check_constraints]
        if keys:
            drops = ", ".join(f"DROP CONSTRAINT {quote_ident(k)}" for k in keys)
            steps.append(self._sql(ctx, main, f"ALTER TABLE {main.table.target} {drops}"))
        for side in self._sides():
            steps += self._take_not_null(ctx, side, forward=forward)
        for side in self._sides():
            steps += self._rename_indexes(ctx, side, forward=forward)
        identity = self.op.identity is not None
        if identity:  # an identity column keeps NOT NULL until its identity is dropped
            steps += self._move_generation(ctx, forward=forward)
        for side in self._sides():
            steps += self._release_not_null(ctx, side, forward=forward)
        if not identity:  # NOT NULL released first: the trigger fills the outgoing column
            steps += self._move_generation(ctx, forward=forward)
        for name, kind in self.op.unique_keys():
            index = quote_ident(main.index_copy(ctx, name, incoming))
            steps.append(
                self._sql(
                    ctx,
                    main,
                    f"ALTER TABLE {main.table.target} ADD CONSTRAINT {quote_ident(name)}"
                    f" {kind} USING INDEX {index}",
                )
            )
        for check in self.op.check_constraints:
            steps.append(add_not_valid(main.table, ctx, check.name, f"CHECK ({check.check})"))
        for ref, side in self.referencing:
            steps.append(self._take_foreign_key(ctx, ref, side, forward=forward))
        for side in self._sides():
            steps.append(side.sync_function(ctx, swapped=forward, replace=True))
        return steps

    def _rename_columns(self, ctx: PlanContext, side: Side, *, forward: bool) -> list[Step]:
        """The outgoing column steps aside; the incoming one takes its name."""
        target = side.table.target
        column, shadow, old = side.column, side.shadow(ctx), side.old(ctx)
        out_name, in_name = (old, shadow) if forward else (shadow, old)
        note = accepted(
            "C204, L114",
            f"in-place swap: {side.column} keeps existing under its name, in this one short"
            " transaction (catalog only, every table waits at most lock_timeout)",
        )
        return [
            self._sql(
                ctx,
                side,
                f"ALTER TABLE {target} RENAME COLUMN {quote_ident(column)}"
                f" TO {quote_ident(out_name)}",
                note,
            ),
            self._sql(
                ctx,
                side,
                f"ALTER TABLE {target} RENAME COLUMN {quote_ident(in_name)}"
                f" TO {quote_ident(column)}",
                note,
            ),
        ]

    def _take_not_null(self, ctx: PlanContext, side: Side, *, forward: bool) -> list[Step]:
        """The incoming column becomes NOT NULL, instantly: a validated check proves it."""
        if not side.not_null:
            return []
        target = side.table.target
        helper = side.not_null_helper(ctx, "new" if forward else "old")
        note = accepted(
            "L106, L114",
            f"no scan: the validated check {helper} proves it"
            " (built under the column's other name)",
        )
        return [
            self._sql(
                ctx,
                side,
                f"ALTER TABLE {target} ALTER COLUMN {quote_ident(side.column)} SET NOT NULL",
                note,
            ),
            self._sql(ctx, side, f"ALTER TABLE {target} DROP CONSTRAINT {quote_ident(helper)}"),
        ]

    def _rename_indexes(self, ctx: PlanContext, side: Side, *, forward: bool) -> list[Step]:
        """The indexes follow: the incoming column's copies take the original names."""
        out_copy, in_copy = ("old", "new") if forward else ("new", "old")
        steps: list[Step] = []
        for index in side.indexes:
            out_index = quote_ident(side.index_copy(ctx, index, out_copy))
            in_index = side.table.in_schema(side.index_copy(ctx, index, in_copy))
            steps += [
                self._sql(
                    ctx, side, f"ALTER INDEX {side.table.in_schema(index)} RENAME TO {out_index}"
                ),
                self._sql(ctx, side, f"ALTER INDEX {in_index} RENAME TO {quote_ident(index)}"),
            ]
        return steps

    def _release_not_null(self, ctx: PlanContext, side: Side, *, forward: bool) -> list[Step]:
        """The outgoing column may hold NULL now (forward: where the old type cannot hold
        a value); going back, the shadow gets its helper check again, validated later."""
        if not side.not_null:
            return []
        target = side.table.target
        outgoing = side.old(ctx) if forward else side.shadow(ctx)
        steps = [
            self._sql(
                ctx,
                side,
                f"ALTER TABLE {target} ALTER COLUMN {quote_ident(outgoing)} DROP NOT NULL",
            )
        ]
        if not forward:
            helper = side.not_null_helper(ctx, "new")
            steps.append(
                add_not_valid(
                    side.table, ctx, helper, f"CHECK ({quote_ident(outgoing)} IS NOT NULL)"
                )
            )
        return steps

    def _move_generation(self, ctx: PlanContext, *, forward: bool) -> list[Step]:
        """The default, serial sequence or identity moves to the incoming column."""
        op, main = self.op, self.main
        target = main.table.target
        incoming = quote_ident(main.column)
        outgoing = quote_ident(main.old(ctx) if forward else main.shadow(ctx))
        sequence = op.sequence_name
        if op.identity is not None and sequence is not None:
            staging = generated_name(ctx, op.table, op.column, "seq")
            return [
                self._sql(
                    ctx,
                    main,
                    f"ALTER TABLE {target} ALTER COLUMN {incoming} ADD GENERATED"
                    f" {op.identity.upper()} AS IDENTITY (SEQUENCE NAME {op.in_schema(staging)})",
                ),
                self._sql(
                    ctx,
                    main,
                    "-- the new identity continues where the old one is\n"
                    f"SELECT setval({quote_literal(op.in_schema(staging))}, s.last_value,"
                    f" s.is_called) FROM {op.in_schema(sequence)} AS s",
                ),
                self._sql(ctx, main, f"ALTER TABLE {target} ALTER COLUMN {outgoing} DROP IDENTITY"),
                self._sql(
                    ctx,
                    main,
                    f"ALTER SEQUENCE {op.in_schema(staging)} RENAME TO {quote_ident(sequence)}",
                    accepted(
                        "C206",
                        "the new identity sequence takes the name of the one dropped just above",
                    ),
                ),
            ]
        if sequence is not None:
            seq = op.in_schema(sequence)
            return [
                self._sql(
                    ctx,
                    main,
                    f"ALTER TABLE {target} ALTER COLUMN {outgoing} DROP DEFAULT,"
                    f" ALTER COLUMN {incoming} SET DEFAULT nextval({quote_literal(seq)}::regclass)",
                ),
                self._sql(
                    ctx, main, f"ALTER SEQUENCE {seq} AS {op.type if forward else op.from_type}"
                ),
                self._sql(ctx, main, f"ALTER SEQUENCE {seq} OWNED BY {target}.{incoming}"),
            ]
        if op.default is not None:
            default = (op.new_default or op.default) if forward else op.default
            return [
                self._sql(
                    ctx,
                    main,
                    f"ALTER TABLE {target} ALTER COLUMN {outgoing} DROP DEFAULT,"
                    f" ALTER COLUMN {incoming} SET DEFAULT {default}",
                )
            ]
        return []

    def _take_foreign_key(
        self, ctx: PlanContext, ref: Referencing, side: Side, *, forward: bool
    ) -> Step:
        """Forward: the validated key between the shadows takes the original name.
        Backward: the original key is added back NOT VALID (validated after the lock)."""
        target = side.table.target
        if forward:
            copy = quote_ident(self.op.foreign_key_copy(ctx, ref))
            return self._sql(
                ctx,
                side,
                f"ALTER TABLE {target} RENAME CONSTRAINT {copy}"
                f" TO {quote_ident(ref.constraint_name)}",
            )
        definition = (
            f"FOREIGN KEY ({quote_ident(side.column)}) REFERENCES {self.main.table.target}"
            f" ({quote_ident(self.main.column)}) ON DELETE {ref.on_delete.upper()}"
        )
        return add_not_valid(side.table, ctx, ref.constraint_name, definition)
