"""X902 unused-suppression."""

from __future__ import annotations

from expandctl.lint.rule import Rule


class UnusedSuppression(Rule):
    """An ``expandctl-ignore`` comment that suppressed nothing.

    Lock or breakage: none, but a stale suppression will silently hide a
    real finding the day the statement below it changes.

    Safe alternative: remove the comment.

    Bad:
        -- expandctl-ignore: L101 small table
        CREATE INDEX CONCURRENTLY users_email_idx ON users (email);

    Good:
        CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
    """

    id = "X902"
    name = "unused-suppression"
    group = "suppressions"
    severity = "warning"
