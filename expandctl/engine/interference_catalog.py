"""What in the live catalog still needs an object a phase is about to remove.

Read-only queries; every name is a query parameter. A column is looked up
by attribute number, so what PostgreSQL tracks (views, policies, generated
columns, indexes, constraints, publication column lists) comes from
``pg_depend``/``pg_constraint``/``pg_publication_rel``; what it does not
track — PL/pgSQL bodies — is read from ``pg_proc.prosrc`` with the same
identifier scan the migration texts get.

A rename only breaks what refers to the object by name (function bodies);
views, policies and constraints follow it by number, so they are checked
for drops and type changes only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from expandctl.engine.interference_text import identifiers
from expandctl.model.removals import Removal


@dataclass(frozen=True)
class CatalogNeed:
    what: str  # "view public.v", "trigger t on users (function f)"
    kind: str  # what it is, to compare with what the plan drops first
    name: str
    function: str | None = None  # a trigger's function


_FIND_RELATION = """
SELECT c.oid FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = %(name)s
  AND (n.nspname = %(schema)s
       OR (%(schema)s::text IS NULL AND pg_catalog.pg_table_is_visible(c.oid)))
ORDER BY pg_catalog.pg_table_is_visible(c.oid) DESC LIMIT 1
"""
_FIND_ATTRIBUTE = """
SELECT attnum FROM pg_catalog.pg_attribute
WHERE attrelid = %(rel)s AND attname = %(name)s AND attnum > 0 AND NOT attisdropped
"""
_VIEWS = """
SELECT DISTINCT CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
       pg_catalog.format('%%I.%%I', vn.nspname, v.relname),
       v.relname::text
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
  AND r.oid = d.objid
JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = %(rel)s
  AND (%(att)s = 0 OR d.refobjsubid = %(att)s) AND v.oid <> %(rel)s
"""
_POLICIES = """
SELECT DISTINCT p.polname::text,
       pg_catalog.format('%%I.%%I', tn.nspname, tc.relname)
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_policy p ON d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass
  AND p.oid = d.objid
JOIN pg_catalog.pg_class tc ON tc.oid = p.polrelid
JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = %(rel)s
  AND (%(att)s = 0 OR d.refobjsubid = %(att)s) AND (%(att)s <> 0 OR p.polrelid <> %(rel)s)
"""
# A generated column's expression depends on the columns it reads (recorded
# against the column itself or its pg_attrdef row, depending on the version).
_GENERATED = """
SELECT a.attname::text FROM pg_catalog.pg_attribute a
WHERE a.attrelid = %(rel)s AND a.attgenerated <> '' AND NOT a.attisdropped
  AND a.attnum <> %(att)s
  AND EXISTS (
    SELECT 1 FROM pg_catalog.pg_depend d
    LEFT JOIN pg_catalog.pg_attrdef ad ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
      AND ad.oid = d.objid
    WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = %(rel)s
      AND d.refobjsubid = %(att)s
      AND ((ad.adrelid = a.attrelid AND ad.adnum = a.attnum)
        OR (d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = a.attrelid
            AND d.objsubid = a.attnum)))
"""
# Indexes on this column and another: dropping the column drops them silently.
_INDEXES = """
SELECT pg_catalog.format('%%I.%%I', iname.nspname, ic.relname), ic.relname::text
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_namespace iname ON iname.oid = ic.relnamespace
WHERE i.indrelid = %(rel)s
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
              WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.objid = i.indexrelid AND d.refobjid = %(rel)s AND d.refobjsubid = %(att)s)
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
              WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.objid = i.indexrelid AND d.refobjid = %(rel)s
                AND d.refobjsubid NOT IN (0, %(att)s))
"""
# Constraints on this column and another, and foreign keys from elsewhere to it.
_CONSTRAINTS = """
SELECT c.conname::text, pg_catalog.format('%%I.%%I', tn.nspname, tc.relname),
       c.contype::text,
       (c.contype = 'f' AND c.confrelid = %(rel)s AND c.conrelid <> %(rel)s)
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class tc ON tc.oid = c.conrelid
JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
WHERE (%(att)s <> 0 AND %(multi)s AND c.conrelid = %(rel)s AND %(att)s = ANY (c.conkey)
       AND EXISTS (SELECT 1 FROM pg_catalog.unnest(c.conkey) k WHERE k <> %(att)s))
   OR (c.contype = 'f' AND c.confrelid = %(rel)s
       AND (%(att)s = 0 OR %(att)s = ANY (c.confkey))
       AND (c.conrelid <> %(rel)s OR (%(att)s <> 0 AND NOT %(att)s = ANY (c.conkey))))
"""
_TRIGGERS = """
SELECT t.tgname::text, p.proname::text, p.prosrc,
       pg_catalog.format('%%I.%%I', tn.nspname, tc.relname),
       (%(att)s <> 0 AND %(att)s = ANY (t.tgattr::pg_catalog.int2[]))
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
JOIN pg_catalog.pg_class tc ON tc.oid = t.tgrelid
JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
WHERE t.tgrelid = %(rel)s AND NOT t.tgisinternal
"""
# Functions (trigger functions included) whose source text names the object.
_FUNCTIONS = """
SELECT p.proname::text, p.prosrc, p.oid::pg_catalog.regprocedure::text,
       COALESCE((SELECT bool_and(t.tgrelid = %(rel)s) FROM pg_catalog.pg_trigger t
                 WHERE t.tgfoid = p.oid AND NOT t.tgisinternal), false)
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE l.lanname IN ('plpgsql', 'sql')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                    AND e.objid = p.oid AND e.deptype = 'e')
  AND pg_catalog.strpos(pg_catalog.lower(p.prosrc), pg_catalog.lower(%(name)s)) > 0
"""
_PUBLISHED_COLUMN = """
SELECT DISTINCT p.pubname::text FROM pg_catalog.pg_publication_rel pr
JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
WHERE pr.prrelid = %(rel)s
  AND (%(att)s = ANY (COALESCE(pr.prattrs::pg_catalog.int2[], '{}'))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_publication_rel'::pg_catalog.regclass
                    AND d.objid = pr.oid AND d.refobjid = %(rel)s AND d.refobjsubid = %(att)s))
"""
_PUBLISHED_TABLE = """
SELECT DISTINCT p.pubname::text FROM pg_catalog.pg_publication_rel pr
JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid WHERE pr.prrelid = %(rel)s
"""
_FIND_OBJECT = {
    "function": """SELECT p.oid FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proname = %(name)s AND (n.nspname = %(schema)s
          OR (%(schema)s::text IS NULL AND pg_catalog.pg_function_is_visible(p.oid)))""",
    "type": """SELECT t.oid FROM pg_catalog.pg_type t
        JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typname = %(name)s AND (n.nspname = %(schema)s
          OR (%(schema)s::text IS NULL AND pg_catalog.pg_type_is_visible(t.oid)))""",
    "relation": """SELECT c.oid FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = %(name)s AND (n.nspname = %(schema)s
          OR (%(schema)s::text IS NULL AND pg_catalog.pg_table_is_visible(c.oid)))""",
    # Only a key owns its index: a foreign key's conindid is the index it points at.
    "constraint": """SELECT c.conindid FROM pg_catalog.pg_constraint c
        WHERE c.conname = %(name)s AND c.conrelid = %(rel)s AND c.conindid <> 0
          AND c.contype IN ('p', 'u', 'x')""",
}
_CATALOG_OF = {
    "function": "pg_catalog.pg_proc",
    "procedure": "pg_catalog.pg_proc",
    "type": "pg_catalog.pg_type",
    "view": "pg_catalog.pg_class",
    "materialized view": "pg_catalog.pg_class",
    "sequence": "pg_catalog.pg_class",
    "index": "pg_catalog.pg_class",
    "constraint": "pg_catalog.pg_class",  # through the index a unique or primary key owns
}
# Objects that depend on the removed one, as "what" plus (kind, name) to match the plan's drops.
_DEPENDENTS = """
SELECT DISTINCT
  CASE WHEN d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
         (SELECT CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END
                 || pg_catalog.format('%%I.%%I', cn.nspname, c.relname)
          FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
          JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
          WHERE r.oid = d.objid)
       ELSE pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) END,
  CASE d.classid
    WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN 'view'
    WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN 'trigger'
    WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN 'constraint'
    WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN 'policy'
    WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN 'relation'
    WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN 'function'
    ELSE 'object' END,
  COALESCE(
    (SELECT c.relname::text FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c
       ON c.oid = r.ev_class
     WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid),
    (SELECT t.tgname::text FROM pg_catalog.pg_trigger t
     WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND t.oid = d.objid),
    (SELECT c.conname::text FROM pg_catalog.pg_constraint c
     WHERE d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND c.oid = d.objid),
    (SELECT p.polname::text FROM pg_catalog.pg_policy p
     WHERE d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND p.oid = d.objid),
    (SELECT c.relname::text FROM pg_catalog.pg_class c
     WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objid),
    (SELECT p.proname::text FROM pg_catalog.pg_proc p
     WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = d.objid),
    ''),
  (SELECT p.proname::text FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p
     ON p.oid = t.tgfoid
   WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND t.oid = d.objid)
FROM pg_catalog.pg_depend d
WHERE d.refclassid = %(catalog)s::pg_catalog.regclass AND d.refobjid = ANY (%(oids)s)
  AND d.deptype = 'n'
  AND NOT (d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND %(kind)s = 'constraint'
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                           WHERE f.oid = d.objid AND f.contype = 'f'))
"""
PUBLICATION_COLUMN_LISTS_SINCE = 150000


def catalog_needs(
    conn: psycopg.Connection[Any], removal: Removal, *, skip: frozenset[str]
) -> list[CatalogNeed]:
    """What in the database still needs ``removal``'s object; ``skip``: ``kind:name`` the
    plan removes first."""
    needs = list(_needs(conn, removal))
    # An object is not its own user (an FK's internal triggers name the FK itself).
    itself = (removal.kind, removal.name.lower())
    return [
        n
        for n in dict.fromkeys(needs)
        if not _skipped(n, skip) and (n.kind, n.name.lower()) != itself
    ]


def _skipped(need: CatalogNeed, skip: frozenset[str]) -> bool:
    kinds = {
        "view": ("view", "materialized view"),
        "relation": ("index", "view", "materialized view", "sequence", "table"),
    }.get(need.kind, (need.kind,))
    names = {f"{kind}:{need.name.lower()}" for kind in kinds}
    if need.function:
        names.add(f"function:{need.function.lower()}")
    return bool(names & skip)


def _needs(conn: psycopg.Connection[Any], removal: Removal) -> Iterable[CatalogNeed]:
    if removal.kind == "column":
        yield from _column_needs(conn, removal)
    elif removal.kind == "table":
        yield from _table_needs(conn, removal)
    elif removal.kind in ("trigger", "policy"):
        return  # nothing in the catalog refers to a trigger or a policy
    else:
        yield from _object_needs(conn, removal)


def _relation(conn: psycopg.Connection[Any], schema: str | None, name: str | None) -> int | None:
    if name is None:
        return None
    row = conn.execute(_FIND_RELATION, {"name": name, "schema": schema}).fetchone()
    return int(row[0]) if row else None


def _column_needs(conn: psycopg.Connection[Any], removal: Removal) -> Iterable[CatalogNeed]:
    rel = _relation(conn, removal.schema_name, removal.table)
    if rel is None:
        return
    row = conn.execute(_FIND_ATTRIBUTE, {"rel": rel, "name": removal.name}).fetchone()
    if row is None:
        return
    att = int(row[0])
    args = {"rel": rel, "att": att, "name": removal.name, "multi": removal.verb == "drop"}
    for tgname, proname, prosrc, by_column, table in _triggers(conn, args):
        if removal.name.lower() in identifiers(prosrc or ""):
            what = f"trigger {tgname} on {table} (function {proname} uses {removal.name})"
            yield CatalogNeed(what, "trigger", tgname, proname)
        elif by_column:
            what = f"trigger {tgname} on {table} (fires on UPDATE OF {removal.name})"
            yield CatalogNeed(what, "trigger", tgname, proname)
    if removal.verb == "rename":
        return  # the rest follows a renamed column by its number
    for kind, view, name in conn.execute(_VIEWS, args).fetchall():
        yield CatalogNeed(f"{kind} {view}", "view", name)
    for policy, table in conn.execute(_POLICIES, args).fetchall():
        yield CatalogNeed(f"policy {policy} on {table}", "policy", policy)
    for (column,) in conn.execute(_GENERATED, args).fetchall():
        table = f"{removal.schema_name}.{removal.table}" if removal.schema_name else removal.table
        yield CatalogNeed(f"generated column {table}.{column}", "column", column)
    for name, table, contype, foreign in conn.execute(_CONSTRAINTS, args).fetchall():
        label = "foreign key" if contype == "f" else "constraint"
        source = f" from {table}" if foreign else f" on {table}"
        yield CatalogNeed(f"{label} {name}{source}", "constraint", name)
    if removal.verb != "drop":
        return  # indexes are rebuilt by a type change; publications keep the column
    for index, name in conn.execute(_INDEXES, args).fetchall():
        yield CatalogNeed(f"index {index} (on more than {removal.name})", "index", name)
    if conn.info.server_version >= PUBLICATION_COLUMN_LISTS_SINCE:
        for (pub,) in conn.execute(_PUBLISHED_COLUMN, args).fetchall():
            yield CatalogNeed(f"publication {pub} (publishes {removal.name})", "publication", pub)


def _triggers(conn: psycopg.Connection[Any], args: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = conn.execute(_TRIGGERS, args).fetchall()
    return [(r[0], r[1], r[2], r[4], r[3]) for r in rows]


def _table_needs(conn: psycopg.Connection[Any], removal: Removal) -> Iterable[CatalogNeed]:
    rel = _relation(conn, removal.schema_name, removal.name)
    if rel is None:
        return
    args = {"rel": rel, "att": 0, "name": removal.name, "multi": False}
    yield from _function_needs(conn, removal, rel, drop_with_table=removal.verb == "drop")
    if removal.verb != "drop":
        return
    for kind, view, name in conn.execute(_VIEWS, args).fetchall():
        yield CatalogNeed(f"{kind} {view}", "view", name)
    for policy, table in conn.execute(_POLICIES, args).fetchall():
        yield CatalogNeed(f"policy {policy} on {table}", "policy", policy)
    for name, table, _contype, _foreign in conn.execute(_CONSTRAINTS, args).fetchall():
        yield CatalogNeed(f"foreign key {name} from {table}", "constraint", name)
    for (pub,) in conn.execute(_PUBLISHED_TABLE, args).fetchall():
        yield CatalogNeed(f"publication {pub} (publishes {removal.name})", "publication", pub)


def _function_needs(
    conn: psycopg.Connection[Any], removal: Removal, rel: int, *, drop_with_table: bool
) -> Iterable[CatalogNeed]:
    """Functions whose bodies name the object (PostgreSQL does not track those)."""
    args = {"rel": rel, "name": removal.name}
    for proname, prosrc, signature, only_on_rel in conn.execute(_FUNCTIONS, args).fetchall():
        if removal.kind in ("function", "procedure") and proname == removal.name:
            continue  # the removed function itself
        if drop_with_table and only_on_rel:
            continue  # its triggers go with the table
        if removal.name.lower() in identifiers(prosrc or ""):
            yield CatalogNeed(
                f"function {signature} (its body uses {removal.name})", "function", proname
            )


def _object_needs(conn: psycopg.Connection[Any], removal: Removal) -> Iterable[CatalogNeed]:
    finder = {"function": "function", "procedure": "function", "type": "type"}.get(
        removal.kind, "constraint" if removal.kind == "constraint" else "relation"
    )
    rel = _relation(conn, removal.schema_name, removal.table) if removal.table else None
    if finder == "constraint" and rel is None:
        return
    params = {"name": removal.name, "schema": removal.schema_name, "rel": rel}
    oids = [int(r[0]) for r in conn.execute(_FIND_OBJECT[finder], params).fetchall()]
    if removal.kind in ("function", "procedure", "type", "view", "materialized view", "sequence"):
        yield from _function_needs(conn, removal, 0, drop_with_table=False)
    if not oids or removal.verb != "drop":
        return
    args = {"catalog": _CATALOG_OF[removal.kind], "oids": oids, "kind": removal.kind}
    for what, kind, name, function in conn.execute(_DEPENDENTS, args).fetchall():
        if what:
            yield CatalogNeed(what, kind, name, function)
