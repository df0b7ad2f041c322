"""Quote names and literals for generated SQL, by PostgreSQL's rules, without psycopg.

The model layer may not import psycopg, yet operations turn manifest names into
SQL. Identifiers are always double-quoted (embedded quotes doubled): that is
safe for reserved words, upper case and any character, and it agrees with
``psycopg.sql.Identifier`` (a test checks that). Names are never pasted raw.
"""

from __future__ import annotations

import hashlib

# PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
MAX_IDENTIFIER_BYTES = 63


def quote_ident(name: str) -> str:
    """``users`` -> ``"users"``; ``a"b`` -> ``"a""b"``."""
    if not name:
        raise ValueError("an SQL identifier cannot be empty")
    if "\x00" in name:
        raise ValueError("an SQL identifier cannot contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str | None, name: str) -> str:
    """``"schema"."name"``, or just ``"name"`` when no schema is given."""
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def quote_literal(value: str) -> str:
    """A string literal: ``it's`` -> ``'it''s'``; ``a\\b`` -> ``E'a\\\\b'``.

    A backslash is written in the escape form, which means the same whatever
    ``standard_conforming_strings`` is set to (psycopg does the same).
    """
    if "\x00" in value:
        raise ValueError("an SQL string cannot contain a NUL character")
    quoted = "'" + value.replace("'", "''") + "'"
    if "\\" in value:
        return "E" + quoted.replace("\\", "\\\\")
    return quoted


def dollar_quote(body: str, tag: str = "expandctl") -> str:
    """``$tag$body$tag$`` with a tag that does not occur in the body."""
    candidate = tag
    n = 0
    while f"${candidate}$" in body:
        n += 1
        candidate = f"{tag}{n}"
    return f"${candidate}${body}${candidate}$"


def object_name(*parts: str) -> str:
    """A readable generated name (trigger, function, constraint) that fits in 63 bytes.

    Too-long names keep a readable prefix and end in a short hash of the whole
    name, so two long names never truncate to the same thing.
    """
    name = "_".join(p for p in parts if p)
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: MAX_IDENTIFIER_BYTES - 9].decode(errors="ignore")
    return f"{head}_{digest}"
