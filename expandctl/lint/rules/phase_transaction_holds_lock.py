"""L114 phase-transaction-holds-lock."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._locks import held_lock, lock_words
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class PhaseTransactionHoldsLock(Rule):
    """In a phase file, slow work in the same transaction as an ACCESS EXCLUSIVE lock.

    Lock or breakage: ``advance`` runs the consecutive statements of a phase
    (operations' SQL, then the phase file) as one transaction, committed with
    the recorded state; a CONCURRENTLY statement runs alone and ends the
    group. A strong lock taken early in a group is therefore held while the
    later statements run: a ``VALIDATE CONSTRAINT`` after ``ADD CONSTRAINT
    ... NOT VALID`` on the same table scans the whole table with every query
    on it blocked — exactly what the NOT VALID split was meant to avoid. So
    is a statement that queues for another busy table's lock. The strong
    locks counted: ACCESS EXCLUSIVE (most ALTER TABLE forms, DROP, TRUNCATE,
    DROP TRIGGER, dropping a foreign key: on both tables) and SHARE ROW
    EXCLUSIVE, which blocks all writes (a foreign key, even NOT VALID: on
    both tables; CREATE TRIGGER). Instant follow-ups are not counted:
    catalog-only changes to the same table, SET, GRANT and REVOKE (no table
    lock), DROP TRIGGER on the locked table, DROP FUNCTION, creating
    functions, ``SELECT ... LIMIT 0`` shape checks, the operations' catalog
    checks (a DO block that only reads pg_catalog and raises), creating an
    empty table, inserting literal rows into a new table (``INSERT ...
    SELECT`` reads its source under the lock, so it counts), dropping a
    table no running code uses (created in this migration, or by the phase a
    rollback undoes), and a foreign key added NOT VALID that references the
    locked table or such a new table. A DO block counts by the statements it
    runs. Warning by default: it still counts some statements that are
    instant (a one-row ``INSERT`` into an existing table), which as errors
    would fail CI for no hazard; make it an error with ``severity = { L114 =
    "error" }``.

    Safe alternative: put the statement that takes the strong lock last in
    the phase, or move the slow statement to the next phase (validate in
    switch-reads what expand added NOT VALID).

    Bad:
        ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;
        ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;

    Good:
        ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;
    """

    id = "L114"
    name = "phase-transaction-holds-lock"
    group = "locking"
    severity = "warning"
    example_managed = True

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if not ctx.managed_transactions or ctx.in_transaction:
            return
        held = held_lock(ctx, statement, action)
        if held is None:
            return
        table = display(held)
        mode, blocked = lock_words(ctx)
        yield Violation(
            f"advance runs this statement in the same transaction as an earlier one that took "
            f"a {mode} lock on {table}: {blocked} on {table} stay blocked until "
            "this one finishes too.",
            f"put the statement that locks {table} last in the phase, or move this one to the "
            "next phase.",
        )
