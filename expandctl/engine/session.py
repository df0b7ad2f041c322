"""One command's connections: a control connection (lock, events) and a work one (steps)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

import psycopg

from expandctl.engine.connection import (
    Connection,
    connect_url,
    current_actor,
    database_error,
    database_url,
    server_major,
)
from expandctl.engine.fencing import take_lease
from expandctl.engine.locking import advisory_lock
from expandctl.engine.pooler import refuse_transaction_pooling
from expandctl.engine.runner import RunContext
from expandctl.engine.store import StateStore
from expandctl.model.config import ResolvedConfig, Settings
from expandctl.model.durations import format_duration
from expandctl.model.redact import password_of
from expandctl.model.state import MigrationRecord


@dataclass
class Session:
    control: Connection
    store: StateStore
    server_version: int
    run: RunContext | None = None  # only for sessions that change state

    def records(self) -> dict[str, MigrationRecord]:
        return self.store.load(self.control)

    def record_refusal(self, action: str, migration_id: str | None, error: Exception) -> None:
        """Refusals belong in the audit log too; never let logging them hide the refusal."""
        if self.run is None or getattr(error, "recorded", False):
            return
        with contextlib.suppress(psycopg.Error):
            self.store.append_event(
                self.control,
                self.run.actor,
                action=action,
                outcome="refused",
                migration_id=migration_id,
                detail=str(error),
                secrets=self.run.secrets,
            )


@contextmanager
def read_session(config: ResolvedConfig) -> Iterator[Session]:
    """Read state without locking or creating anything."""
    url = database_url(config)
    with _database_errors(url), connect_url(url, autocommit=True) as conn:
        # Its limits are session-level: behind a transaction pooler they would stay
        # on a server connection the application uses next.
        with connect_url(url, autocommit=True) as probe:
            refuse_transaction_pooling(conn, probe)
        _limits(conn, config.settings)
        yield Session(conn, StateStore(config.settings.state_schema), server_major(conn))


@contextmanager
def write_session(
    config: ResolvedConfig, *, before_lock: dict[str, MigrationRecord] | None = None
) -> Iterator[Session]:
    """Hold the advisory lock, create the state schema if needed, and hand out both connections.

    ``before_lock``, when given, is filled with the state as it was before
    waiting for the lock, so the caller can notice another run changed it.
    """
    settings = config.settings
    url = database_url(config)
    store = StateStore(settings.state_schema)
    actor = current_actor()
    with _database_errors(url), ExitStack() as stack:
        control = stack.enter_context(connect_url(url, autocommit=True))
        work = connect_url(url, autocommit=True)
        stack.callback(work.close)
        # Before anything is locked or set: a transaction pooler would scatter both.
        refuse_transaction_pooling(control, work)
        _limits(control, settings)
        if before_lock is not None:
            before_lock.update(store.load(control))
        stack.enter_context(
            advisory_lock(control, settings.state_schema, settings.advisory_lock_wait)
        )
        stack.enter_context(work)  # closed before the lock is released, as always
        _limits(work, settings)
        store.ensure(work, actor)
        # Before any state is read: waits for a previous owner's open transaction.
        fence = take_lease(work, store.schema, actor, settings.advisory_lock_wait)
        run = RunContext(
            work=work,
            control=control,
            store=store,
            actor=actor,
            settings=settings,
            connect=partial(connect_url, url),
            secrets=(password_of(url),),
            fence=fence,
        )
        yield Session(control, store, server_major(control), run)


def _limits(conn: Connection, settings: Settings) -> None:
    """Every statement under a limit from the first one: reading the state behind a
    lock someone holds on the state tables must fail, not hang. (Steps set their own.)"""
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        (format_duration(settings.lock_timeout), format_duration(settings.statement_timeout)),
    )


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Any driver error that escapes becomes a one-line DatabaseError (exit 3), redacted."""
    try:
        yield
    except psycopg.errors.LockNotAvailable as exc:
        error = database_error("PostgreSQL error", exc, url)
        error.hint = (
            "another session holds a lock on expandctl's state tables (see pg_locks); "
            "end it or raise lock_timeout"
        )
        raise error from None
    except psycopg.Error as exc:
        raise database_error("PostgreSQL error", exc, url) from None
