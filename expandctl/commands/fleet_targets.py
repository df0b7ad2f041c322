"""Per-target plumbing for fleet commands: its config, its state, and bounded parallelism."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from expandctl.commands.status import StatusReport, status
from expandctl.engine.connection import connect_url, database_url
from expandctl.engine.locking import advisory_lock
from expandctl.errors import ConfigError, ExpandctlError, UsageError
from expandctl.model.config import ResolvedConfig
from expandctl.model.fleet import Fleet, FleetTarget
from expandctl.model.redact import password_of, redact

T = TypeVar("T")
R = TypeVar("R")


def target_config(
    base: ResolvedConfig, target: FleetTarget, environ: Mapping[str, str]
) -> ResolvedConfig:
    """The project's settings pointed at this target's database."""
    url = target.url
    if target.url_env is not None:
        url = environ.get(target.url_env)
        if not url:
            raise ConfigError(
                f"environment variable {target.url_env} (the URL of target {target.name!r}) "
                "is not set"
            )
    return base.model_copy(update={"database_url": url, "embedded": False})


def excluded_names(fleet: Fleet, exclude: Iterable[str]) -> list[str]:
    """Targets left out of this run: ``exclude = true`` in the file plus ``--exclude``."""
    asked = list(dict.fromkeys(exclude))
    unknown = [name for name in asked if fleet.target(name) is None]
    if unknown:
        raise UsageError(
            f"--exclude {unknown[0]}: no such target in {fleet.path}",
            hint=f"the targets are {', '.join(fleet.names[:5])}"
            + (" ..." if len(fleet.names) > 5 else ""),
        )
    return [t.name for t in fleet.targets if t.exclude or t.name in asked]


def failure_text(exc: BaseException, config: ResolvedConfig | None) -> str:
    """One redacted line saying why a target failed; a bug of ours says so plainly."""
    text = str(exc) if isinstance(exc, ExpandctlError) else f"internal error: {exc!r}"
    url = config.database_url if config else None
    return redact(" ".join(text.split()), password_of(url))


@contextmanager
def fleet_lock(config: ResolvedConfig) -> Iterator[None]:
    """A second advisory lock on the target, held around "read the state, then act".

    The target's own lock covers each phase; this one makes two fleet runs
    take turns on a target, so the second reads the state the first left
    (a rollback has no idempotent "go to" form that would do it for us).
    """
    settings = config.settings
    with (
        connect_url(database_url(config), autocommit=True) as conn,
        advisory_lock(conn, f"{settings.state_schema}.fleet", settings.advisory_lock_wait),
    ):
        yield


@dataclass
class TargetRead:
    """A target's ``status``, or why it could not be read."""

    name: str
    report: StatusReport | None
    error: str | None


def read_targets(
    fleet: Fleet,
    base: ResolvedConfig,
    names: list[str],
    environ: Mapping[str, str],
    parallelism: int,
) -> dict[str, TargetRead]:
    """Every named target's status, read in parallel; an unreachable one is a row, not a crash."""

    def read(name: str) -> TargetRead:
        target = fleet.target(name)
        assert target is not None
        config: ResolvedConfig | None = None
        try:
            config = target_config(base, target, environ)
            return TargetRead(name, status(config), None)
        except Exception as exc:  # any target's failure is that target's row
            return TargetRead(name, None, failure_text(exc, config))

    results = run_bounded(names, read, parallelism)
    return {r.name: r for r in results}


def run_bounded(
    items: list[T],
    work: Callable[[T], R],
    parallelism: int,
    *,
    stop: threading.Event | None = None,
    skipped: Callable[[T], R] | None = None,
) -> list[R]:
    """``work`` on every item, ``parallelism`` at a time, results in item order.

    Once ``stop`` is set, items not started yet get ``skipped(item)`` instead;
    the ones already running finish (a phase is never cut off by the fleet).
    """

    def one(item: T) -> R:
        if stop is not None and stop.is_set() and skipped is not None:
            return skipped(item)
        threading.current_thread().name = f"expandctl:{item}"
        return work(item)

    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(items))))
    try:
        futures = [pool.submit(one, item) for item in items]
        return [future.result() for future in futures]
    except BaseException:
        # Ctrl-C or a bug: start nothing more; the phases already running finish.
        if stop is not None:
            stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ
