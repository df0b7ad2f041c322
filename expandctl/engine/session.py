"""One command's connections: a control connection (lock, events) and a work one (steps)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

from expandctl.engine.connection import (
    Connection,
    connect_url,
    current_actor,
    database_url,
    server_major,
)
from expandctl.engine.locking import advisory_lock
from expandctl.engine.runner import RunContext
from expandctl.engine.store import StateStore
from expandctl.model.config import ResolvedConfig
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


@contextmanager
def read_session(config: ResolvedConfig) -> Iterator[Session]:
    """Read state without locking or creating anything."""
    url = database_url(config)
    with connect_url(url, autocommit=True) as conn:
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
    with ExitStack() as stack:
        control = stack.enter_context(connect_url(url, autocommit=True))
        if before_lock is not None:
            before_lock.update(store.load(control))
        stack.enter_context(
            advisory_lock(control, settings.state_schema, settings.advisory_lock_wait)
        )
        work = stack.enter_context(connect_url(url, autocommit=True))
        store.ensure(work, actor)
        run = RunContext(
            work=work,
            control=control,
            store=store,
            actor=actor,
            settings=settings,
            connect=partial(connect_url, url),
            secrets=(password_of(url),),
        )
        yield Session(control, store, server_major(control), run)
