"""Which keys a place in a manifest allows, read from the pydantic model, for
"unknown key 'colum' (did you mean 'column'?)" and "missing key 'op' (one of: …)".

A location is a TOML path (``operations.0``, ``gates.contract``); the walk
follows the model's field annotations through lists, dicts and the tagged
union of operations (the member named by the table's ``op``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def known_keys(model: type[BaseModel], data: Any, location: Sequence[str | int]) -> list[str]:
    """The keys the model allows in the table at ``location`` of ``data``."""
    found = _models_at(model, data, location)
    return [field.alias or name for cls in found for name, field in cls.model_fields.items()]


def tags_at(model: type[BaseModel], data: Any, location: Sequence[str | int]) -> list[str]:
    """The ``op`` values (discriminator tags) of the union at ``location``."""
    tags: list[str] = []
    for cls in _members(model, data, location):
        field = cls.model_fields.get("op")
        args = typing.get_args(field.annotation) if field is not None else ()
        tags.extend(str(a) for a in args)
    return tags


def _models_at(
    model: type[BaseModel], data: Any, location: Sequence[str | int]
) -> list[type[BaseModel]]:
    members = _members(model, data, location)
    value = _value_at(data, location)
    if len(members) > 1 and isinstance(value, dict):  # a tagged union: the member named by op
        chosen = [c for c in members if value.get("op") in _literal_args(c)]
        return chosen or []
    return members


def _members(
    model: type[BaseModel], data: Any, location: Sequence[str | int]
) -> list[type[BaseModel]]:
    """The model classes that can describe the table at ``location`` (several for a union)."""
    current: list[type[BaseModel]] = [model]
    containers: list[str] = []  # list/dict levels still to step through before a field name
    value = data
    for part in location:
        if containers:
            containers.pop(0)
            value = _step(value, part)
            continue
        if isinstance(part, int):  # [backfill] written once is one table, read as a list
            continue
        annotations = [c.model_fields[part].annotation for c in current if part in c.model_fields]
        if not annotations:
            by_alias = [
                f.annotation for c in current for f in c.model_fields.values() if f.alias == part
            ]
            annotations = by_alias
        if not annotations:
            return []
        current, containers = _unwrap(annotations[0])
        value = _step(value, part)
    return current


def _unwrap(annotation: Any) -> tuple[list[type[BaseModel]], list[str]]:
    """The model classes inside an annotation, and the list/dict levels around them."""
    containers: list[str] = []
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (list, tuple, dict):
            containers.append("list" if origin is not dict else "dict")
            annotation = args[-1] if args else Any
        else:
            break
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    classes = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return classes, containers


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _literal_args(cls: type[BaseModel]) -> tuple[Any, ...]:
    field = cls.model_fields.get("op")
    return typing.get_args(field.annotation) if field is not None else ()


def _step(value: Any, part: str | int) -> Any:
    if isinstance(value, dict):
        return value if isinstance(part, int) else value.get(part)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return None


def _value_at(data: Any, location: Sequence[str | int]) -> Any:
    value = data
    for part in location:
        value = _step(value, part)
    return value
