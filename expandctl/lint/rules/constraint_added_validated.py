"""L104 constraint-added-validated."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, AddColumn, AddConstraint
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class ConstraintAddedValidated(Rule):
    """Adding a FOREIGN KEY, CHECK or EXCLUDE constraint that is validated at once.

    Lock or breakage: the constraint is checked against every existing row
    while the ALTER TABLE holds its lock: ACCESS EXCLUSIVE for CHECK and
    EXCLUDE (all queries wait), SHARE ROW EXCLUSIVE on both tables for a
    FOREIGN KEY (all writes wait) — for as long as the full scan takes.

    Safe alternative: add it ``NOT VALID`` (a catalog change; new rows are
    checked from then on), then ``VALIDATE CONSTRAINT`` in a separate
    statement, ideally a later phase: validation takes only a SHARE UPDATE
    EXCLUSIVE lock, which lets reads and writes through. EXCLUDE has no
    ``NOT VALID``: create it with the table, or accept the lock in a
    maintenance window (suppress with a reason). A table created in the
    migration counts as existing here when it was filled from existing data
    (``CREATE TABLE ... AS``, ``INSERT INTO ... SELECT``) and the key points
    at an existing table. ``ADD COLUMN ... REFERENCES t`` without a default
    needs no validation (the new column is NULL everywhere).

    Bad:
        ALTER TABLE orders ADD CONSTRAINT orders_user_fk
            FOREIGN KEY (user_id) REFERENCES users (id);

    Good:
        ALTER TABLE orders ADD CONSTRAINT orders_user_fk
            FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
        ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
    """

    id = "L104"
    name = "constraint-added-validated"
    group = "locking"
    actions = (AddConstraint, AddColumn)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if isinstance(action, AddColumn):
            yield from _inline(action, ctx)
            return
        assert isinstance(action, AddConstraint)
        if action.kind not in ("foreign key", "check", "exclude") or action.not_valid:
            return
        if ctx.is_new_table(action.table):
            yield from _filled(action, ctx)
            return
        table = display(action.table or "")
        name = action.name or f"{table}_{action.kind.replace(' ', '_')}"
        if action.kind == "exclude":
            yield Violation(
                f"adding EXCLUDE constraint {name} builds its index and checks every row of "
                f"{table} under an ACCESS EXCLUSIVE lock: all queries on {table} wait.",
                "EXCLUDE constraints cannot be added NOT VALID: add it when the table is "
                "created, or run it in a maintenance window and suppress this finding "
                "with a reason.",
            )
            return
        lock = (
            f"SHARE ROW EXCLUSIVE locks on {table} and the referenced table: all writes to both"
            if action.kind == "foreign key"
            else f"an ACCESS EXCLUSIVE lock on {table}: all queries on it"
        )
        yield Violation(
            f"adding {action.kind.upper()} constraint {name} validates every existing row while "
            f"holding {lock} wait for the full scan.",
            f"1. ALTER TABLE {table} ADD CONSTRAINT {name} {_without_not_valid(action)} "
            f"NOT VALID;  2. in a separate statement (a later phase is best): "
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};",
        )


def _inline(action: AddColumn, ctx: LintContext) -> Iterator[Violation]:
    """``ADD COLUMN ... REFERENCES t`` / ``CHECK (...)``: validated on the spot."""
    col = action.column
    if ctx.is_new_table(action.table) or not (col.references or col.check):
        return
    table = display(action.table or "")
    # A new column without a default is NULL in every row: nothing to validate.
    # (The foreign key still takes SHARE ROW EXCLUSIVE on the referenced table,
    # briefly: the transaction rules judge what runs while it is held.)
    if col.references and col.default is not None and col.default.upper() != "NULL":
        other = display(col.references)
        name = f"{table}_{col.name}_fkey"
        yield Violation(
            f"ADD COLUMN {col.name} ... REFERENCES {other} adds a validated FOREIGN KEY: it "
            f"takes SHARE ROW EXCLUSIVE locks on {table} and {other} (all writes to both wait) "
            "and checks every row.",
            f"1. ALTER TABLE {table} ADD COLUMN {col.name} {col.type_text};  "
            f"2. ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({col.name}) "
            f"REFERENCES {other} NOT VALID;  3. later: ALTER TABLE {table} VALIDATE "
            f"CONSTRAINT {name};",
        )
    if col.check:
        yield Violation(
            f"ADD COLUMN {col.name} ... CHECK checks every row of {table} while holding an "
            f"ACCESS EXCLUSIVE lock: all queries on {table} wait for the scan.",
            f"add the column without the CHECK, then ALTER TABLE {table} ADD CONSTRAINT ... "
            "CHECK (...) NOT VALID and VALIDATE it in a separate statement.",
        )


def _filled(action: AddConstraint, ctx: LintContext) -> Iterator[Violation]:
    """A validated foreign key on a new table filled from existing data, to an existing table.

    The new table is not empty (CREATE TABLE ... AS, INSERT ... SELECT): the
    validation scans it and the referenced table while holding SHARE ROW
    EXCLUSIVE on the referenced one, so every write to it waits.
    """
    if action.kind != "foreign key" or action.not_valid or not ctx.is_filled_table(action.table):
        return
    other = action.references or "?"
    if ctx.no_traffic_on(other):
        return
    table, target = display(action.table or ""), display(other)
    name = action.name or f"{table}_fkey"
    yield Violation(
        f"adding FOREIGN KEY {name} validates every row {table} was filled with (copied from "
        f"existing data) while holding a SHARE ROW EXCLUSIVE lock on {target}: all writes to "
        f"{target} wait for the scan.",
        f"1. ALTER TABLE {table} ADD CONSTRAINT {name} {_without_not_valid(action)} NOT VALID;  "
        f"2. in a separate statement (a later phase is best): ALTER TABLE {table} VALIDATE "
        f"CONSTRAINT {name};",
    )


def _without_not_valid(action: AddConstraint) -> str:
    return action.definition.removesuffix(" NOT VALID")
