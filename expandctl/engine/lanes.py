"""Lanes: a backfill hands the schema lock back while its batches run.

The schema lock (one advisory lock per state schema) serialises every state
change. A backfill can run for hours; holding that lock all along would make
every other release's ``advance`` wait and give up. So each phase run also
holds its migration's own *lane* lock, and during a backfill step it hands
the schema lock back:

- other migrations advance meanwhile; their plan's interference check sees
  this migration in flight, exactly as when nothing runs;
- a run on the *same* migration finds the lane taken and refuses at once;
- the batches are fenced by the lane's token (``<schema>.lane``), not by the
  schema-wide lease that the other runs now bump;
- the schema lock and a fresh lease are taken back before the phase is
  recorded, so every state write still happens under the schema lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from expandctl.engine.connection import Connection
from expandctl.engine.fencing import Fence, take_lane_lease, take_lease
from expandctl.engine.locking import (
    LANE_CLASS,
    busy_error,
    key_holder,
    lane_key,
    lock_holder,
    lock_key,
    try_lock,
    unlock,
    wait_for_lock,
)
from expandctl.errors import LockBusyError
from expandctl.model.config import Settings
from expandctl.model.state import Actor

log = logging.getLogger(__name__)

# Taking the schema lock back after a long backfill: the other runs hold it for
# one phase each, so wait longer than a fresh command would, saying who holds it.
TAKE_BACK_WAIT = timedelta(minutes=5)
TAKE_BACK_REPORT_S = 30.0


class LaneBusyError(LockBusyError):
    """Another run is running this migration right now (its lane is held)."""

    def __init__(self, message: str, *, migration_id: str, holder: str, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.migration_id = migration_id
        self.holder = holder


@contextmanager
def lane(control: Connection, schema: str, migration_id: str) -> Iterator[None]:
    """Hold ``migration_id``'s lane on ``control`` (taken again by the same session, it
    stacks: session-level advisory locks count)."""
    key = lane_key(schema, migration_id)
    if not try_lock(control, key):
        holder = key_holder(control, key) or "another session (it just released it)"
        raise LaneBusyError(
            f"another expandctl is running {migration_id} right now: {holder}",
            hint=f"while its backfill runs, other migrations can advance: name one "
            f"('expandctl advance ID'); for {migration_id} itself wait "
            f"('expandctl backfill status {migration_id}' shows the progress)",
            migration_id=migration_id,
            holder=holder,
        )
    try:
        yield
    finally:
        unlock(control, key)


def hand_back(
    control: Connection,
    work: Connection,
    schema: str,
    migration_id: str,
    actor: Actor,
    settings: Settings,
) -> Fence:
    """Take the lane's lease, then release the schema lock: the fence for the batches."""
    fence = take_lane_lease(work, schema, migration_id, actor, settings.advisory_lock_wait)
    unlock(control, lock_key(schema))
    log.debug(
        "backfilling %s without the schema lock: other migrations may advance meanwhile",
        migration_id,
    )
    return fence


def take_back(
    control: Connection,
    work: Connection,
    schema: str,
    actor: Actor,
    settings: Settings,
    *,
    wait: timedelta | None = None,
) -> Fence:
    """Take the schema lock and a fresh lease again, before any state is written.

    ``wait`` defaults to a long wait (the batches are done; recording them is worth
    it); a run that failed or was interrupted passes a short one."""
    wait = wait if wait is not None else max(settings.advisory_lock_wait, TAKE_BACK_WAIT)
    deadline = time.monotonic() + wait.total_seconds()
    step = min(wait, timedelta(seconds=TAKE_BACK_REPORT_S))
    while not wait_for_lock(control, lock_key(schema), step):
        if time.monotonic() >= deadline:
            error = busy_error(control, schema, wait)
            error.hint = (
                "the backfill's batches are committed and checkpointed; run the same "
                "command again to record the phase"
            )
            raise error
        log.info(
            "waiting for the schema lock to record the backfill: held by %s",
            lock_holder(control, schema) or "another session",
        )
    return take_lease(work, schema, actor, settings.advisory_lock_wait)


def running(conn: Connection, schema: str, migration_ids: Iterable[str]) -> dict[str, str]:
    """The migrations another session runs right now (their lane is held), with who."""
    by_objid = {lane_key(schema, mid)[1]: mid for mid in migration_ids}
    if not by_objid:
        return {}
    rows = conn.execute(
        "SELECT l.objid::bigint, a.pid, a.usename, coalesce(host(a.client_addr), 'local')"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid = %s::oid AND l.objsubid = 2"
        " AND l.granted AND l.pid <> pg_backend_pid()"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (LANE_CLASS,),
    ).fetchall()
    return {
        by_objid[objid]: f"pid {pid} (user {user}, from {client})"
        for objid, pid, user, client in rows
        if objid in by_objid
    }
