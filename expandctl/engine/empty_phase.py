"""A forward phase with no step: recorded done in one round trip, without waiting for a flush.

``advance --all`` over thousands of migrations mostly meets phases that run
nothing (a backfill with no backfill, a contract with nothing to drop). The
full runner spends a dozen round trips and four commits on each; this writes
the phase done and its two events (started, ok, as the runner logs them) in one
statement instead.

It commits with ``synchronous_commit = off``: a crash can lose only the record
of a phase that ran nothing, so the worst case is running nothing again; and
the next commit that waits for the disk (any phase with steps) flushes it first.
"""

from __future__ import annotations

import json
import time
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from expandctl.engine.runner import PhaseRun, RunContext
from expandctl.model.migration import Migration
from expandctl.model.phases import Phase, State
from expandctl.model.state import MigrationRecord, PhaseRecord
from expandctl.model.steps import Direction, PhasePlan


def record_empty_phase(
    ctx: RunContext, plan: PhasePlan, migration: Migration, record: MigrationRecord
) -> tuple[PhaseRun, MigrationRecord]:
    """Record ``plan`` (forward, no steps) done; the run and the record as it now is."""
    if plan.steps or plan.direction is not Direction.FORWARD or record.in_progress is not None:
        raise ValueError("only a fresh forward phase without steps is recorded this way")
    started = time.monotonic()
    schema = sql.Identifier(ctx.store.schema)
    done = {
        "by": str(ctx.actor),
        "checksum": migration.phase_checksums[plan.phase],
        "file_checksums": migration.file_checksums.get(plan.phase, {}),
    }
    # One statement, so one round trip and one implicit transaction: the phase
    # done and its event together. set_config(..., true) lasts until that commit.
    query = sql.SQL(
        "WITH quiet AS (SELECT set_config('synchronous_commit', 'off', true)), "
        # Fenced like every write of a run: nothing is recorded unless the lease is ours.
        "fence AS (SELECT token FROM {s}.lease WHERE token = %(token)s FOR SHARE), "
        "done AS (INSERT INTO {s}.migrations AS m (id, state, phases) SELECT %(id)s, "
        "%(state)s, jsonb_build_object(%(phase)s::text, %(done)s::jsonb "
        "|| jsonb_build_object('started_at', now(), 'finished_at', now())) FROM fence "
        "ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, "
        "phases = m.phases || EXCLUDED.phases, in_progress = NULL, updated_at = now() "
        "RETURNING phases -> %(phase)s::text AS phase_done), "
        "logged AS (INSERT INTO {s}.events (migration_id, phase, direction, action, outcome, "
        "duration_ms, os_user, host, version, pid, detail) SELECT %(id)s, %(phase)s, "
        "%(direction)s, 'phase', e.outcome, e.ms, %(os_user)s, %(host)s, %(version)s, "
        "%(pid)s, e.detail FROM (VALUES (1, 'started', NULL::bigint, '0 steps'), "
        "(2, 'ok', 0, '0 steps run')) AS e(n, outcome, ms, detail), done ORDER BY e.n) "
        "SELECT done.* FROM done, quiet"
    ).format(s=schema)
    actor = ctx.actor
    row = ctx.work.execute(
        query,
        {
            "id": migration.id,
            "state": State.after(plan.phase).value,
            "phase": plan.phase.value,
            "direction": plan.direction.value,
            "done": Jsonb(done),
            "os_user": actor.os_user,
            "host": actor.host,
            "version": actor.version,
            "pid": actor.pid,
            "token": ctx.fence.token,
        },
    ).fetchone()
    if row is None:  # the lease is no longer ours: say to whom (raises)
        ctx.fence.check(ctx.work, what=migration.id, committed="nothing of it was recorded")
        raise AssertionError("the lease check wrote nothing but the lease is ours")
    phases: dict[Phase, PhaseRecord] = dict(record.phases)
    phases[plan.phase] = PhaseRecord.model_validate(_json(row[0]))
    after = record.model_copy(update={"state": State.after(plan.phase), "phases": phases})
    run = PhaseRun(
        migration_id=migration.id,
        phase=plan.phase.value,
        direction=plan.direction.value,
        steps_total=0,
        steps_run=0,
        resumed_from=None,
        retries=0,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return run, after


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
