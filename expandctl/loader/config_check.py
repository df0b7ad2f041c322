"""Is a configuration section plainly valid? Answered without pydantic.

``model.config.Settings`` is the one definition of a valid configuration.
Importing pydantic and building that model costs more than linting a small
file, so ``expandctl lint`` first asks this module: a section whose every
key is known and every value already has the exact type and range
``Settings`` requires is read as it is. Anything else (a wrong type, a value
pydantic would convert, a duration, which only the model parses) is "not
plainly valid", and ``Settings`` validates it: it either accepts it or says
what is wrong, file:line and all, exactly as for every other command.
tests/loader/test_config_check.py checks the keys against the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from expandctl.model.lint_config import (
    DEFAULT_MIGRATIONS_DIR,
    DEFAULT_PG_VERSION,
    LintOptions,
)

# Settings' keys whose values are read here: name -> what a plain value is.
STRINGS = frozenset({"migrations_dir", "database_url", "database_url_env"})
INTEGERS: dict[str, tuple[int, int]] = {"lock_retries": (0, 100), "pg_version": (11, 30)}
STATE_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # Settings.state_schema's pattern
# Keys only the model can judge (durations): present, they send the section to it.
MODEL_ONLY = frozenset({"lock_timeout", "statement_timeout", "index_timeout", "advisory_lock_wait"})
SETTINGS_KEYS = STRINGS | set(INTEGERS) | {"state_schema", "lint"} | MODEL_ONLY
LINT_KEYS = frozenset({"select", "ignore", "severity"})
SEVERITIES = frozenset({"error", "warning", "off"})

Plain = tuple[str, int, LintOptions]  # migrations_dir, pg_version, lint options


def plainly_valid(section: Mapping[str, Any]) -> Plain | None:
    """``section`` read as ``Settings`` would read it, or None when only
    ``Settings`` can say (it may still accept it, or name the problem)."""
    if not section.keys() <= SETTINGS_KEYS or section.keys() & MODEL_ONLY:
        return None
    for key in STRINGS & section.keys():
        if type(section[key]) is not str:
            return None
    for key, (low, high) in INTEGERS.items():
        value = section.get(key, low)
        if type(value) is not int or not low <= value <= high:
            return None
    schema = section.get("state_schema", "expandctl")
    if type(schema) is not str or STATE_SCHEMA.fullmatch(schema) is None:
        return None
    lint = section.get("lint", {})
    if type(lint) is not dict or not lint.keys() <= LINT_KEYS:
        return None
    select, ignore = lint.get("select", []), lint.get("ignore", [])
    severity = lint.get("severity", {})
    if not (_strings(select) and _strings(ignore) and type(severity) is dict):
        return None
    if not all(type(k) is str and v in SEVERITIES and type(v) is str for k, v in severity.items()):
        return None
    return (
        section.get("migrations_dir", DEFAULT_MIGRATIONS_DIR),
        section.get("pg_version", DEFAULT_PG_VERSION),
        options_of(select, ignore, severity),
    )


def options_of(
    select: Iterable[str], ignore: Iterable[str], severity: Mapping[str, str]
) -> LintOptions:
    return LintOptions(tuple(select), tuple(ignore), dict(severity))


def _strings(value: object) -> bool:
    return type(value) is list and all(type(item) is str for item in value)
