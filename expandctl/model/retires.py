"""Objects a migration declares it removes in contract (``retires = [...]``)."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ObjectKind(StrEnum):
    TABLE = "table"
    COLUMN = "column"
    INDEX = "index"
    VIEW = "view"
    FUNCTION = "function"
    TRIGGER = "trigger"
    TYPE = "type"
    SEQUENCE = "sequence"
    SCHEMA = "schema"
    CONSTRAINT = "constraint"


_NAME = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_QUALIFIED = re.compile(rf"^{_NAME}(\.{_NAME}){{0,2}}$")
_PART = re.compile(_NAME)
_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def spell(name: str) -> str:
    """An identifier as stored by PostgreSQL, spelled the way the linter names it:
    as it is when it would fold to itself, else double-quoted (``"Email"``)."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _folded(part: str) -> str:
    """One written part of a name: unquoted ones fold to lower case, quoted ones keep theirs."""
    if part.startswith('"'):
        return spell(part[1:-1].replace('""', '"'))
    return part.lower()


class RetiredObject(BaseModel):
    """``users.name`` is a column, ``users`` a table, ``index:users_email_idx`` an index."""

    model_config = ConfigDict(frozen=True)

    kind: ObjectKind
    # As PostgreSQL folds it: "users.name", "public.users", "users_email_idx", 'users."Email"'
    name: str

    @classmethod
    def parse(cls, text: str) -> RetiredObject:
        raw = text.strip()
        kind_text, sep, name = raw.partition(":")
        if sep:
            try:
                kind = ObjectKind(kind_text.strip().lower())
            except ValueError:
                kinds = ", ".join(k.value for k in ObjectKind)
                raise ValueError(
                    f"unknown object kind {kind_text!r} in {text!r}; use one of: {kinds}"
                ) from None
            name = name.strip()
        else:
            name = raw
            kind = ObjectKind.COLUMN if len(_PART.findall(name)) == 2 else ObjectKind.TABLE
        if not _QUALIFIED.match(name):
            raise ValueError(
                f"{text!r} is not an object name; write 'table', 'table.column' or 'kind:name'"
            )
        return cls(kind=kind, name=".".join(_folded(p) for p in _PART.findall(name)))

    def __str__(self) -> str:
        parts = len(_PART.findall(self.name))
        implicit = (self.kind is ObjectKind.COLUMN and parts == 2) or (
            self.kind is ObjectKind.TABLE and parts == 1
        )
        return self.name if implicit else f"{self.kind.value}:{self.name}"
