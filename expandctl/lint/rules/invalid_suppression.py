"""X901 invalid-suppression."""

from __future__ import annotations

from expandctl.lint.rule import Rule


class InvalidSuppression(Rule):
    """An ``expandctl-ignore`` comment that cannot be honoured.

    Lock or breakage: a suppression without a reason, or naming a rule that
    does not exist, hides nothing and would let a typo silence the gate.
    Reported by the suppression reader, not by a statement check.

    Safe alternative: name existing rule ids or names, then a reason:
    ``-- expandctl-ignore: L101 table has 40 rows``.

    Bad:
        -- expandctl-ignore: L999
        CREATE INDEX users_email_idx ON users (email);

    Good:
        -- expandctl-ignore: L101 users has a few hundred rows, the lock is brief
        CREATE INDEX users_email_idx ON users (email);
    """

    id = "X901"
    name = "invalid-suppression"
    group = "suppressions"
