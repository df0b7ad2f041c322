"""The shipped examples, advanced in interleaved orders under live writers: no write fails.

Every pair of examples that touch the same table is advanced phase by phase
in a seeded random interleaving that the engine accepts: ``advance`` itself
refuses what ``requires`` (which gates expand) or the in-flight interference
check forbids, and the harness then tries another migration first. Meanwhile clients update and
read back every row of ``users`` (an UPDATE fires every row trigger the
migrations installed, which is where a dropped column breaks writes).

Negative control: 0003's sync trigger reads users.email and 0010's contract
drops it. The check refuses that contract while 0003 is in flight; forced
through anyway, every write fails.
"""

from __future__ import annotations

import itertools
import random
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from expandctl.commands.advance import advance, load_set
from expandctl.engine.decide import decide_advance
from expandctl.engine.interference import interference_of_phase
from expandctl.engine.interference_text import identifiers
from expandctl.engine.store import StateStore
from expandctl.engine.workload.clients import AppShape, Client, Timeline
from expandctl.errors import StateError
from expandctl.lint.removals import removals
from expandctl.lint.source import read_actions
from expandctl.model.migration import Migration, MigrationSet
from expandctl.model.phases import PHASES, Phase
from expandctl.model.planning import plan_phase
from expandctl.model.steps import SqlStep
from tests.conftest import PROJECT_ROOT, PgDatabase
from tests.engine.conftest import Project

pytestmark = [pytest.mark.db, pytest.mark.slow]

BASE = "0001_create_users"
SEED_ROWS = 50
BASE_TIME = datetime(2020, 1, 1, tzinfo=UTC)


def _tables(migration: Migration) -> set[str]:
    tables: set[str] = set()
    for phase in PHASES:
        for step in plan_phase(migration, phase).steps:
            if isinstance(step, SqlStep):
                tables.update(a.table.split(".")[-1] for a in read_actions(step.sql) if a.table)
            elif step.kind == "backfill":
                tables.add(step.spec.table.split(".")[-1])
    return tables


def _pairs() -> list[tuple[str, str]]:
    """Pairs of examples (other than the base table's) that touch a common table."""
    examples = load_set_from(PROJECT_ROOT / "migrations").migrations
    others = [m for m in examples if m.id != BASE]
    return [(a.id, b.id) for a, b in itertools.combinations(others, 2) if _tables(a) & _tables(b)]


def _entangled(pair: tuple[str, str]) -> bool:
    """Whether either of the pair removes, in some phase, a name the other one's SQL uses."""
    examples = load_set_from(PROJECT_ROOT / "migrations")
    a, b = (examples.get(mid) for mid in pair)
    assert a is not None and b is not None
    return (
        _names_removed(a) & _names_used(b) != set() or _names_removed(b) & _names_used(a) != set()
    )


def _names_removed(migration: Migration) -> set[str]:
    return {
        r.name.lower()
        for phase in PHASES
        for r in removals(plan_phase(migration, phase))
        if r.kind in ("column", "table", "function", "type")
    }


def _names_used(migration: Migration) -> set[str]:
    used: set[str] = set()
    for phase in PHASES:
        for step in plan_phase(migration, phase).steps:
            if isinstance(step, SqlStep):
                used |= identifiers(step.sql)
            elif step.kind == "backfill":
                used |= identifiers(" ".join([*step.spec.set.values(), step.spec.where]))
    return used


def load_set_from(directory: Path) -> MigrationSet:
    from expandctl.loader.migrations import load_migrations

    return load_migrations(directory)


class Writer(Client):
    """An app instance that only updates and reads back rows that exist before it starts.

    It writes ``created_at``, a column no example touches, so whatever breaks
    its writes is a trigger (or constraint) another migration left behind.
    """

    def _one_request(self) -> None:
        self.request("update" if self.rng.random() < 0.6 else "select")


class Writers:
    def __init__(self, dsn: str, rows: dict[Any, tuple[Any, ...]], count: int = 3) -> None:
        shape = AppShape(
            "app", "users", ("created_at",), lambda n: (BASE_TIME + timedelta(seconds=n),)
        )
        timeline = Timeline()
        self.clients = [
            Writer(dsn, shape, f"app-{i}", timeline, seed=i + 1, think_time=0.001)
            for i in range(count)
        ]
        for n, (key, values) in enumerate(sorted(rows.items())):
            self.clients[n % count].written[key] = values  # each client owns its own rows

    def __enter__(self) -> Writers:
        for client in self.clients:
            client.start()
            client.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.stop()

    def label(self, text: str) -> None:
        self.clients[0].timeline.set(text)

    def errors(self) -> list[str]:
        return [f"[{e.window}] {e.action}: {e.message}" for c in self.clients for e in c.errors]

    def requests(self) -> int:
        return sum(c.requests for c in self.clients)


@pytest.fixture
def examples(tmp_path: Path, pg_database: PgDatabase) -> Project:
    project = Project(root=tmp_path, db=pg_database, overrides={})
    project.overrides["migrations_dir"] = str(PROJECT_ROOT / "migrations")
    return project


def _seed(project: Project) -> dict[Any, tuple[Any, ...]]:
    """Create users (0001) and some rows; the writers own them."""
    advance(project.config(), BASE, to=Phase.CONTRACT, yes=True)
    project.query(
        "INSERT INTO users (email, name, age) SELECT 'u' || g || '@x.org', 'Ada ' || g, g "
        "FROM generate_series(1, %s) g",
        (SEED_ROWS,),
    )
    return {row[0]: (row[1],) for row in project.query("SELECT id, created_at FROM users")}


def _refusals(
    project: Project, migrations: MigrationSet, mid: str, phase: Phase
) -> tuple[list[str], set[str]]:
    """Why the engine would not run ``phase`` of ``mid`` now (requires, then interference),
    and which other migrations must move first."""
    migration = migrations.get(mid)
    assert migration is not None
    with psycopg.connect(project.db.dsn) as conn:
        records = StateStore("expandctl").load(conn)
        decision = decide_advance(migration, migrations, records)
        if decision.refusals:
            return decision.refusals, set(migration.manifest.requires)
        plan = plan_phase(migration, phase, server_version=conn.info.server_version // 10000)
        found = interference_of_phase(conn, migration, plan, removals(plan), migrations, records)
    return [i.message for i in found], {i.migration_id for i in found if i.migration_id}


def _interleave(project: Project, ids: tuple[str, ...], seed: int, writers: Writers) -> list[str]:
    """Advance ``ids`` to contract in a seeded random order the engine accepts; the log.

    When every remaining phase is refused because a migration outside ``ids``
    must move first (0010's contract waits for 0003), that one joins the run,
    as the refusal's hint tells the operator.
    """
    config = project.config()
    migrations = load_set(config)
    rng = random.Random(seed)
    next_phase = dict.fromkeys(ids, 0)
    log: list[str] = []
    while any(i < len(PHASES) for i in next_phase.values()):
        candidates = [m for m, i in next_phase.items() if i < len(PHASES)]
        rng.shuffle(candidates)
        waiting_for: set[str] = set()
        for mid in candidates:
            phase = PHASES[next_phase[mid]]
            writers.label(f"{mid} {phase.value}")
            try:
                advance(config, mid, to=phase, yes=True)
            except StateError as refusal:
                refused, blockers = _refusals(project, migrations, mid, phase)
                assert refused, f"advance refused {mid} {phase.value} for another reason: {refusal}"
                log.append(f"refused {mid} {phase.value}: {refusal}")
                waiting_for |= blockers - set(next_phase)
                continue
            log.append(f"ran {mid} {phase.value}")
            next_phase[mid] += 1
            break
        else:
            if not waiting_for:
                pytest.fail(f"every remaining phase is refused (a deadlock): {log[-3:]}")
            for mid in sorted(waiting_for):
                log.append(f"joined {mid}")
                next_phase[mid] = 0
    return log


PAIRS = _pairs()
# Pairs where one removes what the other uses get their own seeded interleavings;
# every pair, these included, is also interleaved in the runs of all examples at once.
ENTANGLED = [p for p in PAIRS if _entangled(p)]
PAIR_SEEDS = 3
ALL_SEEDS = 2


def test_the_examples_pair_up_on_users() -> None:
    assert len(PAIRS) == 21  # every example after 0001 changes users
    assert ("0003_users_email_normalized", "0010_rename_users_email") in ENTANGLED


def _run(examples: Project, ids: tuple[str, ...], seed: int) -> None:
    rows = _seed(examples)
    with Writers(examples.db.dsn, rows) as writers:
        log = _interleave(examples, ids, seed, writers)
        time.sleep(0.05)
    assert writers.errors() == [], f"{len(writers.errors())} client errors; order: {log}"
    assert writers.requests() > 20
    assert all(examples.state(m) == "contract" for m in ids), log


@pytest.mark.parametrize(
    ("pair", "seed"),
    [(p, s) for p in ENTANGLED for s in range(PAIR_SEEDS)],
    ids=[f"{'+'.join(m[:4] for m in p)}-seed{s}" for p in ENTANGLED for s in range(PAIR_SEEDS)],
)
def test_an_entangled_pair_never_breaks_writes(
    examples: Project, pair: tuple[str, str], seed: int
) -> None:
    _run(examples, pair, zlib.crc32("+".join(pair).encode()) + seed)


@pytest.mark.parametrize("seed", range(ALL_SEEDS))
def test_all_examples_interleaved_never_break_writes(examples: Project, seed: int) -> None:
    ids = tuple(m for m in load_set(examples.config()).ids if m != BASE)
    _run(examples, ids, 1000 + seed)


def _to(project: Project, mid: str, phase: Phase) -> None:
    advance(project.config(), mid, to=phase, yes=True)


def _force(project: Project, migrations: MigrationSet, mid: str, phase: Phase) -> None:
    """Run a phase's SQL steps directly, without the engine's checks."""
    migration = migrations.get(mid)
    assert migration is not None
    with psycopg.connect(project.db.dsn, autocommit=True) as conn:
        plan = plan_phase(migration, phase, server_version=conn.info.server_version // 10000)
        for step in plan.steps:
            if isinstance(step, SqlStep):
                conn.execute(step.sql.encode())


def test_the_unsafe_order_of_0003_and_0010_is_refused(examples: Project) -> None:
    """0010 contract before 0003's: refused; forced anyway (control), every write fails."""
    rows = _seed(examples)
    normalize, rename = "0003_users_email_normalized", "0010_rename_users_email"
    migrations = load_set(examples.config())
    with Writers(examples.db.dsn, rows) as writers:
        _to(examples, normalize, Phase.SWITCH_WRITES)
        _to(examples, rename, Phase.SWITCH_WRITES)
        refused, _ = _refusals(examples, migrations, rename, Phase.CONTRACT)
        assert any(normalize in r and "drop column users.email" in r for r in refused)
        with pytest.raises(StateError, match=r"(?s)0003_users_email_normalized.*contract"):
            _to(examples, rename, Phase.CONTRACT)
        assert examples.state(rename) == "switch-writes"
        time.sleep(0.1)
        assert writers.errors() == []

        # Control: what advance did before the check, run by hand.
        writers.label("forced 0010 contract")
        _force(examples, migrations, rename, Phase.CONTRACT)
        deadline = time.monotonic() + 5
        while not writers.errors() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert any('record "new" has no field "email"' in e for e in writers.errors())
    with pytest.raises(psycopg.errors.UndefinedColumn, match='record "new" has no field'):
        examples.query("INSERT INTO users (email_address, name) VALUES ('z@x.org', 'Z')")


def test_0010_contract_waits_for_a_pending_0003(examples: Project) -> None:
    """0003 not started yet: it would install a trigger on users.email, so 0010 waits."""
    _seed(examples)
    rename = "0010_rename_users_email"
    _to(examples, rename, Phase.SWITCH_WRITES)
    refused, blockers = _refusals(examples, load_set(examples.config()), rename, Phase.CONTRACT)
    assert blockers == {"0003_users_email_normalized"}
    assert any("it is still pending" in r for r in refused) or refused
    _to(examples, "0003_users_email_normalized", Phase.CONTRACT)
    assert _refusals(examples, load_set(examples.config()), rename, Phase.CONTRACT) == ([], set())
