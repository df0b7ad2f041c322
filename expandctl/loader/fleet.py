"""Read ``fleet.toml`` strictly: every problem is one line with file:line, nothing half-loaded."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from expandctl.errors import ConfigError
from expandctl.loader.toml_data import toml_error_line, toml_error_message
from expandctl.loader.toml_lines import key_lines, line_of
from expandctl.loader.validation import validation_error
from expandctl.model.fleet import Fleet, FleetFile, WaveProblem, plan_waves

FLEET_FILE = "fleet.toml"


def load_fleet(path: Path) -> Fleet:
    if not path.is_file():
        raise ConfigError(
            f"fleet file {path} does not exist",
            hint="pass --fleet PATH (see docs/scale.md for the format)",
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"invalid TOML: {toml_error_message(exc)}", path=path, line=toml_error_line(exc, text)
        ) from None
    try:
        spec = FleetFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, text, ConfigError) from None
    try:
        waves = plan_waves(spec)
    except WaveProblem as problem:
        raise ConfigError(
            str(problem), path=path, line=line_of(key_lines(text), problem.location)
        ) from None
    return Fleet(path=str(path), targets=spec.targets, waves=waves)
