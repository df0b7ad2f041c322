"""L112 unbatched-update-delete."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, WriteRows
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.rules._util import display
from expandctl.lint.source import Statement


class UnbatchedUpdateDelete(Rule):
    """An UPDATE (or DELETE) over a whole table in one statement.

    Lock or breakage: one statement locks every row it touches until it
    commits, so concurrent writes to those rows wait; it also writes a huge
    burst of WAL (replication lag) and leaves a table's worth of dead rows.
    A WHERE clause does not make it small: ``WHERE c IS NULL``, ``WHERE
    created_at < now()`` or a join condition (``UPDATE a ... FROM b WHERE
    a.b_id = b.id``) may match every row. A write counts as batched only when
    its predicate limits it to a key range or a small set: ``id = 5``, ``id
    IN (1, 2, 3)``, ``id = ANY(ARRAY[...])``, ``id BETWEEN :lo AND :hi``, a
    lower and an upper constant bound on one column, a one-sided constant
    bound on a key (``id``, ``*_id``, ``ctid``), or a subquery with LIMIT.
    (A DELETE without any WHERE is reported by ``delete-without-where``.)

    Safe alternative: a batched, resumable backfill: declare ``[backfill]``
    in migration.toml, which updates a few thousand rows per transaction with
    pauses, or write keyset batches yourself.

    Bad:
        UPDATE users SET email_norm = lower(email) WHERE email_norm IS NULL;

    Good:
        UPDATE users SET email_norm = lower(email) WHERE id BETWEEN 1 AND 5000;
    """

    id = "L112"
    name = "unbatched-update-delete"
    group = "locking"
    actions = (WriteRows,)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        assert isinstance(action, WriteRows)
        if ctx.is_new_table(action.table):
            return
        if action.verb == "DELETE" and not action.where:
            return  # delete-without-where reports it
        if action.where and not action.trivial_where and _bounded(action, statement):
            return
        table = display(action.table or "the table")
        yield Violation(
            f"{action.verb} of possibly every row of {table} in one statement (no key range, "
            "small set or LIMIT bounds it) locks all those rows until it commits "
            "(concurrent writes wait) and writes a burst of WAL.",
            f'batch it: [backfill] table = "{table}" in migration.toml, or keyset batches such '
            f"as {action.verb} ... WHERE id BETWEEN :lo AND :hi, committing after each.",
        )


def _bounded(action: WriteRows, statement: Statement) -> bool:
    if action.bounded is not None:
        return action.bounded
    writes = [x for x in statement.actions if isinstance(x, WriteRows)]
    from expandctl.lint.bounded import writes_bounded  # loads sqlglot

    answers = writes_bounded(statement.sql.text)
    if answers is None or len(answers) != len(writes):
        return True  # cannot tell which WHERE is whose: keep the old answer (it has one)
    return answers[next(i for i, x in enumerate(writes) if x is action)]
