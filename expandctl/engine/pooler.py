"""Refuse to change state through a pooler that does not keep a client on one server session.

A state-changing run holds a session-level advisory lock on its control
connection, sets session-level limits, and trusts that every statement of a
connection runs in the same server session. A pooler in *transaction* (or
statement) mode breaks all three: after each transaction the server session
goes back to the pool, so the lock stays on a server connection some other
client now uses, our limits leak into that client, and our next statement may
run elsewhere. So such a run refuses at the start, before it locks or writes
anything. Session pooling keeps a client on one server session and works.

How it is detected, without false alarms. A server session is named by
``pg_backend_pid()``. With two client connections (the run's control and work
connections), a few rounds of:

1. control asks for its pid twice, the second time in a statement marked with
   a fresh random token;
2. work opens a transaction (a pooler must pin a server session to it until
   COMMIT), asks for its pid, and reads from ``pg_stat_activity`` the last
   statement of control's session;
3. while that transaction is open, control asks for its pid again.

Connected directly, or through a session pooler, each connection keeps its own
session for its whole life: control sees one pid every time, work another one
every time, and control's session last ran control's marked statement (control
is idle meanwhile). That holds always, so any other answer proves pooling per
transaction. Through a transaction pooler, control's session goes back to the
pool after each statement. An idle pool hands out the most recently released
connection first (PgBouncer's default), so work gets control's session at once;
and whichever session work got, it is pinned, so control may have to move. If
work did not get control's session, that session was busy with, or has since
run, another client's statement, and step 2 sees that statement instead of
the marker, or the pool hands out idle connections oldest first (PgBouncer's
``server_round_robin``), and then control's two statements of step 1 already
went to two different sessions. (Pid checks alone, even over eight rounds, missed now and then with
four other clients busy on a two-connection pool: the pooler kept giving each
of ours the same session between the other clients' statements.) Merely asking
twice on one connection would not do either: an idle transaction pooler often
hands the same server connection back. A few rounds are cheap insurance.
Statement pooling refuses the explicit transaction in step 2 outright.
"""

from __future__ import annotations

import secrets

import psycopg

from expandctl.engine.connection import Connection
from expandctl.errors import ConfigError

ROUNDS = 4  # each round is a few short round trips

HINT = (
    "point --database-url (or the URL in the environment variable) at the PostgreSQL"
    " server itself, or at a pool in session mode; keep the transaction-pooled URL for"
    " the application"
)


def _pid(conn: Connection, marker: str = "") -> int:
    # prepare=False: a prepared statement would itself break behind a transaction pooler.
    row = conn.execute(f"SELECT pg_backend_pid() {marker}".encode(), prepare=False).fetchone()
    assert row is not None
    return int(row[0])


def shares_server_sessions(control: Connection, work: Connection) -> str | None:
    """How the connections were seen to share server sessions, or None if each owns its own.

    Both connections in autocommit mode, with no transaction open.
    """
    controls: list[int] = []
    works: list[int] = []
    try:
        for _ in range(ROUNDS):
            marker = f"/* expandctl: session probe {secrets.token_hex(8)} */"
            controls.append(_pid(control))
            controls.append(_pid(control, marker))
            with work.transaction():
                row = work.execute(
                    "SELECT pg_backend_pid(), a.query, a.state FROM (SELECT 1) one"
                    " LEFT JOIN pg_stat_activity a ON a.pid = %s",
                    (controls[-1],),
                    prepare=False,
                ).fetchone()
                assert row is not None
                works.append(int(row[0]))
                # Trust the marker only where the row is shown: another role's session
                # (a login role that SETs ROLE) has state NULL, and with
                # track_activities off it is 'disabled'. The pid checks still apply.
                visible = row[2] is not None and row[2] != "disabled"
                if row[0] != controls[-1] and visible and marker not in str(row[1]):
                    return (
                        f"the server session of one client connection (backend pid"
                        f" {controls[-1]}) ran another client's statement in between"
                    )
                controls.append(_pid(control))
            if seen := _shared(controls, works):
                return seen
    except psycopg.Error as exc:
        # PgBouncer in statement mode ends the connection: "transaction blocks not
        # allowed in statement pooling mode". Any other failure is not ours to explain.
        text = " ".join(str(exc).split())
        if "pool" not in text.lower():
            raise
        return f"it refused an explicit transaction: {text}"
    return None


def _shared(controls: list[int], works: list[int]) -> str | None:
    if common := set(controls) & set(works):
        return (
            f"two client connections were served by the same server session"
            f" (backend pid {min(common)})"
        )
    for pids in (controls, works):
        if len(set(pids)) > 1:
            moved = " -> ".join(str(p) for p in dict.fromkeys(pids))
            return f"one client connection moved between server sessions ({moved})"
    return None


def refuse_transaction_pooling(control: Connection, work: Connection) -> None:
    """Raise ConfigError when the two connections go through a transaction/statement pooler."""
    seen = shares_server_sessions(control, work)
    if seen is None:
        return
    raise ConfigError(
        "the database URL goes through a connection pooler in transaction or statement mode"
        f" ({seen}): expandctl's migration lock and limits need one server session per"
        " connection for the whole run, so nothing was locked or changed",
        hint=HINT,
    )
