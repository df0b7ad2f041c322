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


_NAME = r"[A-Za-z_][A-Za-z0-9_$]*"
_QUALIFIED = re.compile(rf"^{_NAME}(\.{_NAME}){{0,2}}$")


class RetiredObject(BaseModel):
    """``users.name`` is a column, ``users`` a table, ``index:users_email_idx`` an index."""

    model_config = ConfigDict(frozen=True)

    kind: ObjectKind
    name: str  # as written, lower-cased: "users.name", "public.users", "users_email_idx"

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
            kind = ObjectKind.COLUMN if name.count(".") == 1 else ObjectKind.TABLE
        if not _QUALIFIED.match(name):
            raise ValueError(
                f"{text!r} is not an object name; write 'table', 'table.column' or 'kind:name'"
            )
        return cls(kind=kind, name=name.lower())

    def __str__(self) -> str:
        implicit = (self.kind is ObjectKind.COLUMN and self.name.count(".") == 1) or (
            self.kind is ObjectKind.TABLE and "." not in self.name
        )
        return self.name if implicit else f"{self.kind.value}:{self.name}"
