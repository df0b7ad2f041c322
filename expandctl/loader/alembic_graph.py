"""Which Alembic revisions lie below a given one, read from the revision files.

``alembic_version`` holds only the current heads, so "is revision X applied"
needs the revision graph: X is applied when it is a head or an ancestor of
one. The graph is read without importing Alembic (expandctl's core never
does): the ``[alembic]`` section of ``alembic.ini`` names the folders, and
each ``*.py`` in them is parsed (never run) for its ``revision``,
``down_revision`` and ``depends_on`` assignments.
"""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

from expandctl.errors import ConfigError

Graph = dict[str, tuple[str, ...]]  # revision -> the revisions it needs


def revision_graph(config_file: Path) -> Graph:
    """Every revision found through ``config_file`` and the revisions below it."""
    graph: Graph = {}
    for folder in _version_folders(config_file):
        for path in sorted(folder.glob("*.py")):
            found = _revision_of(path)
            if found is not None:
                graph[found[0]] = found[1]
    return graph


def ancestors(graph: Graph, heads: list[str]) -> set[str]:
    """The heads and every revision they need, transitively."""
    seen: set[str] = set()
    todo = list(heads)
    while todo:
        revision = todo.pop()
        if revision not in seen:
            seen.add(revision)
            todo.extend(graph.get(revision, ()))
    return seen


def _version_folders(config_file: Path) -> list[Path]:
    if not config_file.is_file():
        raise ConfigError(f"no Alembic config at {config_file}", hint="set alembic_config")
    parser = configparser.ConfigParser(defaults={"here": str(config_file.parent.resolve())})
    try:
        parser.read(config_file, encoding="utf-8")
        location = parser.get("alembic", "script_location")
        extra = parser.get("alembic", "version_locations", fallback="")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the [alembic] section: {exc}", path=config_file) from exc
    if ":" in location and not Path(location).exists():
        raise ConfigError(
            f"script_location {location!r} is a package resource; the gate needs a folder",
            path=config_file,
        )
    folders = [Path(p) for p in re.split(r"[\s,;]+", extra.strip()) if p] or [
        Path(location) / "versions"
    ]
    return [f if f.is_absolute() else config_file.parent / f for f in folders]


def _revision_of(path: Path) -> tuple[str, tuple[str, ...]] | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return None
    values: dict[str, object] = {}
    for node in tree.body:
        target, value = _assignment(node)
        if target in ("revision", "down_revision", "depends_on") and value is not None:
            try:
                values[target] = ast.literal_eval(value)
            except ValueError:
                continue
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    needs = [*_names(values.get("down_revision")), *_names(values.get("depends_on"))]
    return revision, tuple(needs)


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id if isinstance(target, ast.Name) else None), node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []
