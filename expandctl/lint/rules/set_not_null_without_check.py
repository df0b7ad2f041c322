"""L106 set-not-null-without-check."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, SetNotNull
from expandctl.lint.context import LintContext, norm
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class SetNotNullWithoutCheck(Rule):
    """``SET NOT NULL`` without a validated ``CHECK (col IS NOT NULL)`` first.

    Lock or breakage: SET NOT NULL scans the whole table to prove there is
    no NULL, while holding an ACCESS EXCLUSIVE lock: every query on the
    table waits for the scan.

    Safe alternative: on PostgreSQL 12+, add ``CHECK (col IS NOT NULL) NOT
    VALID``, ``VALIDATE`` it in a separate statement (a weak lock), then
    SET NOT NULL skips the scan because the validated check proves it;
    finally drop the helper check. The linter recognises the check when it
    was validated earlier in the same file or migration. Only columns of a
    table the migration created are exempt: a column the migration added to
    an existing table (even in the same file) is in every existing row, so
    SET NOT NULL scans them all.

    Bad:
        ALTER TABLE users ALTER COLUMN email SET NOT NULL;

    Good:
        ALTER TABLE users ADD CONSTRAINT users_email_not_null
            CHECK (email IS NOT NULL) NOT VALID;
        ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;
        ALTER TABLE users ALTER COLUMN email SET NOT NULL;
        ALTER TABLE users DROP CONSTRAINT users_email_not_null;
    """

    id = "L106"
    name = "set-not-null-without-check"
    group = "locking"
    actions = (SetNotNull,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, SetNotNull)
        if ctx.is_new_column(action.table, action.column):
            return
        table = display(action.table or "")
        proven = (norm(action.table or ""), action.column) in ctx.validated_not_null
        if proven and ctx.pg_version >= 12:
            return
        check = f"{table}_{action.column}_not_null"
        if ctx.pg_version < 12:
            fix = (
                f"PostgreSQL {ctx.pg_version} always scans for SET NOT NULL: keep a validated "
                f"CHECK ({action.column} IS NOT NULL) instead of NOT NULL until you run 12+."
            )
        else:
            fix = (
                f"1. ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({action.column} IS NOT "
                f"NULL) NOT VALID;  2. ALTER TABLE {table} VALIDATE CONSTRAINT {check};  "
                f"3. ALTER TABLE {table} ALTER COLUMN {action.column} SET NOT NULL;  "
                f"4. ALTER TABLE {table} DROP CONSTRAINT {check};"
            )
        yield Violation(
            f"SET NOT NULL on {table}.{action.column} scans every row to prove there is no NULL "
            f"while holding an ACCESS EXCLUSIVE lock: all queries on {table} wait.",
            fix,
        )
