"""U502 dynamic-sql."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Dynamic
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement


class DynamicSql(Rule):
    """Dynamic SQL: ``EXECUTE`` of a computed string, ``EXECUTE``, ``CALL``.

    Lock or breakage: unknown. The SQL such a statement runs only exists at
    run time, so no rule can check its locks or compatibility. Warning by
    default, so it is always seen. A plpgsql ``DO`` block is read: its static
    statements and ``EXECUTE '<literal>'`` are linted like top-level
    statements (whatever IF guards them); only what it builds at run time
    (``EXECUTE format(...)``, a string variable) and forms the reader does not
    know are reported here.

    Safe alternative: write the statements out as plain SQL so they are
    linted; if dynamic SQL is truly needed, review it and suppress with a
    reason.

    Bad:
        DO $$ BEGIN EXECUTE format('ALTER TABLE %I DROP COLUMN name', 'users'); END $$;

    Good:
        ALTER TABLE users ADD COLUMN nickname text;
    """

    id = "U502"
    name = "dynamic-sql"
    group = "unverifiable"
    severity = "warning"
    actions = (Dynamic,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, Dynamic)
        yield Violation(
            f"{action.what} runs SQL that only exists at run time: the linter cannot check "
            "what it locks or breaks.",
            "write the statements out as plain SQL, or review it and suppress with "
            "'-- expandctl-ignore: U502 <why it is safe>'.",
        )
