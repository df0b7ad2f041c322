"""A backfill holds back while a real standby does not replay, and finishes once it does.

Each test stalls a consumer of the primary's WAL (replay paused on the standby
with ``pg_wal_replay_pause()``, or a logical slot nobody reads), runs the
backfill phase with ``expandctl advance`` on the primary, and from a second
thread checks that the backfill is holding (no row written for a while, the
reason in its progress) before releasing the stall; then advance must finish
with every row filled exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from expandctl.commands.advance import advance
from expandctl.engine.backfill import BackfillProgress
from tests.engine.conftest import Project
from tests.standby.cluster import STANDBY_NAME, StandbyPair

pytestmark = [pytest.mark.db, pytest.mark.slow]

MID = "0001_items_norm"
ROWS = 20_000
BATCH = 1_000
HOLD_SECONDS = 1.5  # how long the backfill must write nothing while we watch it hold


def _setup(project: Project, limits: str) -> None:
    """items with a trigger counting updates per row, and a migration that backfills it."""
    project.query(
        "CREATE TABLE items (id bigint PRIMARY KEY, v text NOT NULL,"
        " touches int NOT NULL DEFAULT 0)"
    )
    project.query(
        "INSERT INTO items (id, v) SELECT g, 'Item-' || g FROM generate_series(1, %s) g", (ROWS,)
    )
    project.query(
        "CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN NEW.touches := OLD.touches + 1; RETURN NEW; END$$"
    )
    project.query(
        "CREATE TRIGGER count_touch BEFORE UPDATE ON items"
        " FOR EACH ROW EXECUTE FUNCTION count_touch()"
    )
    project.add(
        MID,
        manifest=f"""
        [backfill]
        table = "items"
        set = {{ v_norm = "lower(v)" }}
        where = "v_norm IS DISTINCT FROM lower(v)"
        batch_size = {BATCH}
        pause_ms = 200
        {limits}
        """,
        expand="ALTER TABLE items ADD COLUMN v_norm text;\n",
        expand_down="ALTER TABLE items DROP COLUMN v_norm;\n",
    )
    assert [r.phase for r in advance(project.config(), MID).runs] == ["expand"]


def _filled(project: Project) -> int:
    return int(project.one("SELECT count(*) FROM items WHERE v_norm IS NOT NULL"))


@dataclass
class Watch:
    """What the second thread saw while the backfill held back."""

    waiting_for: str  # text the progress reason must contain
    ticks: list[tuple[float, BackfillProgress]] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    filled_at_hold: int = -1
    filled_later: int = -1
    released_at: float = 0.0
    error: BaseException | None = None

    def on_tick(self, tick: BackfillProgress) -> None:
        self.ticks.append((time.monotonic(), tick))
        if tick.throttled_reason and self.waiting_for in tick.throttled_reason:
            self.holding.set()

    def batch_times(self) -> list[float]:
        return [at for at, t in self.ticks if not t.throttled_reason]

    def reasons(self) -> list[str]:
        return [t.throttled_reason for _, t in self.ticks if t.throttled_reason]

    def reason(self) -> str:
        return next(r for r in self.reasons() if self.waiting_for in r)


def _release_when_holding(
    project: Project, watch: Watch, release: Callable[[], None]
) -> threading.Thread:
    def watcher() -> None:
        try:
            if watch.holding.wait(timeout=60):
                watch.filled_at_hold = _filled(project)
                time.sleep(HOLD_SECONDS)
                watch.filled_later = _filled(project)
        except BaseException as exc:  # reported by the test thread
            watch.error = exc
        finally:
            watch.released_at = time.monotonic()
            release()

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    return thread


def _advance_stalled(project: Project, watch: Watch, release: Callable[[], None]) -> float:
    """Run the backfill phase while something holds it back; returns when it started."""
    thread = _release_when_holding(project, watch, release)
    started = time.monotonic()
    try:
        report = advance(project.config(), MID, progress=watch.on_tick)
    finally:
        thread.join(timeout=90)
    assert watch.error is None, watch.error
    assert [r.phase for r in report.runs] == ["backfill"]
    return started


def _assert_held_then_finished(project: Project, watch: Watch) -> None:
    assert watch.holding.is_set(), f"never held back; reasons seen: {watch.reasons()[:3]}"
    assert watch.filled_later == watch.filled_at_hold, "rows were written while holding"
    assert watch.filled_at_hold < ROWS, "the backfill finished before holding back"
    # Released, it finished: every row filled, each updated exactly once.
    assert _filled(project) == ROWS
    assert project.one("SELECT count(*) FROM items WHERE v_norm <> lower(v)") == 0
    assert project.query("SELECT min(touches), max(touches) FROM items") == [(1, 1)]
    assert project.state(MID) == "backfill"


def _paused(standby: StandbyPair) -> None:
    standby.wait_caught_up()
    standby.pause_replay()


def test_time_limit_holds_while_replay_is_paused(
    primary_project: Project, standby: StandbyPair
) -> None:
    _setup(primary_project, 'max_replication_lag = "2s"')
    _paused(standby)
    watch = Watch(f"standby {STANDBY_NAME}")
    _advance_stalled(primary_project, watch, standby.resume_replay)
    _assert_held_then_finished(primary_project, watch)
    # A few batches, not 2 s worth of writing (replay_lag alone needs that long:
    # eight batches or more at pause_ms 200). Stall is seen at the second look
    # after the standby's flush report shows WAL waiting; a report that arrives
    # after the next look (a slow host; 2 of 3 full CI runs on 2026-12-01) costs
    # one more batch.
    assert watch.filled_at_hold <= 3 * BATCH, watch.filled_at_hold
    reason = watch.reason()
    assert reason.startswith(f"waiting: standby {STANDBY_NAME} is "), reason
    assert " MB / " in reason and " s behind (replay stalled; max_replication_lag 2 s)" in reason


def test_healthy_standby_is_not_waited_for(primary_project: Project, standby: StandbyPair) -> None:
    # Negative control: replay keeps up, so tight limits cost no pause at all.
    _setup(primary_project, 'max_replication_lag = "1s"\nmax_replication_lag_bytes = 16777216')
    standby.wait_caught_up()
    watch = Watch(f"standby {STANDBY_NAME}")
    report = advance(primary_project.config(), MID, progress=watch.on_tick)
    assert [r.phase for r in report.runs] == ["backfill"]
    assert watch.reasons() == []
    assert _filled(primary_project) == ROWS


def test_byte_limit_holds_within_two_batches(
    primary_project: Project, standby: StandbyPair
) -> None:
    # A batch of 1,000 rows writes about 320 kB of WAL (measured): the second is over.
    _setup(primary_project, "max_replication_lag_bytes = 524288")
    _paused(standby)
    watch = Watch(f"standby {STANDBY_NAME}")
    _advance_stalled(primary_project, watch, standby.resume_replay)
    _assert_held_then_finished(primary_project, watch)
    assert watch.filled_at_hold <= 2 * BATCH
    assert "(max_replication_lag_bytes 0.5 MB)" in watch.reason()


def test_slot_limit_holds_while_a_logical_slot_is_not_consumed(
    primary_project: Project, standby: StandbyPair
) -> None:
    # Replay runs normally: only the slot nobody reads holds the backfill back.
    _setup(primary_project, "max_slot_retained_wal_bytes = 65536")
    primary_project.query("SELECT pg_create_logical_replication_slot('stalled', 'pgoutput')")
    dropped = False

    def drop_slot() -> None:  # the consumer is gone for good: its slot is dropped
        nonlocal dropped
        if not dropped:
            primary_project.query("SELECT pg_drop_replication_slot('stalled')")
            dropped = True

    try:
        watch = Watch("replication slot stalled")
        _advance_stalled(primary_project, watch, drop_slot)
    finally:
        drop_slot()  # a database with a logical slot cannot be dropped
    _assert_held_then_finished(primary_project, watch)
    assert watch.filled_at_hold <= 2 * BATCH
    assert watch.reason().startswith("waiting: logical replication slot stalled retains ")
    assert "(max_slot_retained_wal_bytes 0.1 MB)" in watch.reason()
