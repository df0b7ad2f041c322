"""A fleet file (``fleet.toml``): the databases that take the same migrations, and the waves.

Each database keeps its own state and lock; this file only says where the
databases are and in which order to move them. No password belongs here:
a target names an environment variable (``url_env``), or gives a URL
without one (the password then comes from ``~/.pgpass`` or ``PGPASSWORD``).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from expandctl.model.redact import password_of

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
LABEL = r"^[A-Za-z0-9][A-Za-z0-9_.:=/-]{0,62}$"
ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
URL_SCHEMES = ("postgresql://", "postgres://")

FailurePolicy = Literal["stop", "continue"]
Label = Annotated[str, StringConstraints(pattern=LABEL)]


class FleetTarget(BaseModel):
    """``[[targets]]``: one database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME, description="how reports and --exclude name it")
    url: str | None = Field(default=None, description="a postgresql:// URL without a password")
    url_env: str | None = Field(
        default=None, pattern=ENV_VAR, description="environment variable holding the URL"
    )
    labels: tuple[Label, ...] = Field(default=(), description="for waves to select by")
    exclude: bool = Field(
        default=False, description="left out of every run and of the contract gate"
    )

    @model_validator(mode="after")
    def _one_url_without_password(self) -> FleetTarget:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        if self.url is not None:
            if not self.url.startswith(URL_SCHEMES):
                raise ValueError("url must start with postgresql:// (or use url_env)")
            if password_of(self.url):
                raise ValueError(
                    "url holds a password; keep it out of the file: name an environment "
                    "variable with url_env, or use ~/.pgpass"
                )
        return self


class FleetWave(BaseModel):
    """``[[waves]]``: a group of targets moved together, after the waves above it.

    Select by ``targets`` (names), or by ``labels`` (any of them) narrowed by
    ``count`` or ``percent``; a wave with no selector takes every target left.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME)
    targets: tuple[str, ...] = ()
    labels: tuple[Label, ...] = ()
    count: int | None = Field(default=None, ge=1, description="at most this many targets")
    percent: int | None = Field(
        default=None, ge=1, le=100, description="this share of the matching targets"
    )
    parallelism: int | None = Field(default=None, ge=1, le=64)
    on_failure: FailurePolicy | None = None

    @model_validator(mode="after")
    def _one_way_to_select(self) -> FleetWave:
        if self.count is not None and self.percent is not None:
            raise ValueError("give count or percent, not both")
        if self.targets and (self.labels or self.count is not None or self.percent is not None):
            raise ValueError("targets names the wave's members; drop labels/count/percent")
        return self


class FleetFile(BaseModel):
    """The whole ``fleet.toml`` as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parallelism: int = Field(default=4, ge=1, le=64, description="targets at once, per wave")
    on_failure: FailurePolicy = Field(
        default="stop", description="stop: no later wave starts after a failure"
    )
    targets: tuple[FleetTarget, ...] = Field(min_length=1)
    waves: tuple[FleetWave, ...] = ()


class Wave(BaseModel):
    """A wave with its members worked out, in the order they run."""

    model_config = ConfigDict(frozen=True)

    name: str
    targets: tuple[str, ...]
    parallelism: int
    on_failure: FailurePolicy


class Fleet(BaseModel):
    """A validated fleet: every target in exactly one wave."""

    model_config = ConfigDict(frozen=True)

    path: str
    targets: tuple[FleetTarget, ...]
    waves: tuple[Wave, ...]

    def target(self, name: str) -> FleetTarget | None:
        return next((t for t in self.targets if t.name == name), None)

    def wave_of(self, name: str) -> str | None:
        return next((w.name for w in self.waves if name in w.targets), None)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.targets]


class WaveProblem(ValueError):
    """A wave that cannot be worked out; ``location`` points into the file."""

    def __init__(self, message: str, location: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.location = location


def plan_waves(spec: FleetFile) -> tuple[Wave, ...]:
    """Give every target exactly one wave, in file order; raise WaveProblem when not."""
    _check_unique(spec)
    names = [t.name for t in spec.targets]
    if not spec.waves:
        return (_wave(spec, None, "all", names),)
    left = list(names)
    waves: list[Wave] = []
    for i, wave in enumerate(spec.waves):
        chosen = _members(spec, wave, i, left, waves)
        left = [n for n in left if n not in chosen]
        waves.append(_wave(spec, wave, wave.name, chosen))
    if left:
        shown = ", ".join(left[:3]) + (f" (and {len(left) - 3} more)" if len(left) > 3 else "")
        raise WaveProblem(
            f"targets {shown} are in no wave; end with a [[waves]] without selectors "
            "to take every target left",
            ("waves",),
        )
    return tuple(waves)


def _members(
    spec: FleetFile, wave: FleetWave, index: int, left: list[str], earlier: list[Wave]
) -> list[str]:
    if wave.targets:
        for name in wave.targets:
            where: tuple[str | int, ...] = ("waves", index, "targets")
            if name not in [t.name for t in spec.targets]:
                raise WaveProblem(f"wave {wave.name!r} names unknown target {name!r}", where)
            if name not in left:
                owner = next(w.name for w in earlier if name in w.targets)
                raise WaveProblem(f"target {name!r} is already in wave {owner!r}", where)
        return list(dict.fromkeys(wave.targets))
    matching = [t.name for t in spec.targets if not wave.labels or set(wave.labels) & set(t.labels)]
    if not matching:
        raise WaveProblem(
            f"wave {wave.name!r}: no target has any of the labels {list(wave.labels)}",
            ("waves", index, "labels"),
        )
    candidates = [n for n in left if n in matching]
    size = len(candidates)
    if wave.count is not None:
        size = wave.count
    elif wave.percent is not None:
        size = math.ceil(wave.percent * len(matching) / 100)
    chosen = candidates[:size]
    if not chosen:
        raise WaveProblem(
            f"wave {wave.name!r} selects no target: every one it matches is in an earlier wave",
            ("waves", index, "name"),
        )
    return chosen


def _wave(spec: FleetFile, wave: FleetWave | None, name: str, members: list[str]) -> Wave:
    """The wave with the file's defaults filled in where it sets none."""
    return Wave(
        name=name,
        targets=tuple(members),
        parallelism=(wave.parallelism if wave else None) or spec.parallelism,
        on_failure=(wave.on_failure if wave else None) or spec.on_failure,
    )


def _check_unique(spec: FleetFile) -> None:
    seen: dict[str, int] = {}
    urls: dict[str, str] = {}
    for i, target in enumerate(spec.targets):
        if target.name in seen:
            raise WaveProblem(f"target name {target.name!r} is used twice", ("targets", i, "name"))
        seen[target.name] = i
        key = target.url or f"${target.url_env}"
        if key in urls:
            raise WaveProblem(
                f"target {target.name!r} is the same database as {urls[key]!r}",
                ("targets", i, "url" if target.url else "url_env"),
            )
        urls[key] = target.name
    wave_names: set[str] = set()
    for i, wave in enumerate(spec.waves):
        if wave.name in wave_names:
            raise WaveProblem(f"wave name {wave.name!r} is used twice", ("waves", i, "name"))
        wave_names.add(wave.name)
