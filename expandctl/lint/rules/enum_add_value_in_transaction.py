"""L113 enum-add-value-in-transaction."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, EnumAddValue
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class EnumAddValueInTransaction(Rule):
    """``ALTER TYPE ... ADD VALUE`` inside a transaction block on PostgreSQL before 12.

    Lock or breakage: before PostgreSQL 12, ``ADD VALUE`` cannot run inside
    a transaction block: the migration fails half way. (From 12 on it may,
    but the new value cannot be used until the transaction commits.)

    Safe alternative: run ``ALTER TYPE ... ADD VALUE`` on its own, outside
    BEGIN/COMMIT (expandctl runs such statements in autocommit), and use the
    new value only in a later statement or phase.

    Bad:
        BEGIN;
        ALTER TYPE mood ADD VALUE 'curious';
        COMMIT;

    Good:
        ALTER TYPE mood ADD VALUE IF NOT EXISTS 'curious';
    """

    id = "L113"
    name = "enum-add-value-in-transaction"
    group = "locking"
    actions = (EnumAddValue,)
    example_pg_version = 11

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, EnumAddValue)
        if not ctx.in_transaction or ctx.pg_version >= 12:
            return
        name = display(action.type_name)
        yield Violation(
            f"PostgreSQL {ctx.pg_version} refuses ALTER TYPE {name} ADD VALUE inside a "
            "transaction block: the migration fails at this statement.",
            f"move ALTER TYPE {name} ADD VALUE IF NOT EXISTS '{action.value}'; out of the "
            "BEGIN/COMMIT block.",
        )
