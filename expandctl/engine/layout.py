"""Every object of the state schema in one place: its DDL and what a deploy role needs on it.

``expandctl init`` creates whatever is missing and grants; every other command
reads the catalog first and creates nothing when all is there. That order
matters: ``CREATE SCHEMA IF NOT EXISTS`` (and ``CREATE TABLE IF NOT EXISTS``)
check the CREATE privilege *before* they look whether the object exists, so a
deploy role without CREATE must never issue them, not even for objects that exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from expandctl import __version__
from expandctl.errors import ConfigError
from expandctl.model.state import STATE_LAYOUT_VERSION

Kind = Literal["schema", "table", "index", "function", "trigger", "version"]

READ = ("SELECT",)
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True)
class StateObject:
    """One object of the layout; ``ddl`` uses ``{s}`` for the quoted schema."""

    kind: Kind
    name: str
    ddl: str
    # What a deploy role needs on a table (a role running status/history/plan only: SELECT).
    deploy_privileges: tuple[str, ...] = ()

    def label(self, schema: str) -> str:
        """In words, e.g. ``table expandctl.events``."""
        if self.kind == "schema":
            return f"schema {schema}"
        if self.kind == "version":
            return f"layout version {self.name}"
        return f"{self.kind} {schema}.{self.name}"


LAYOUT: tuple[StateObject, ...] = (
    StateObject("schema", "", "CREATE SCHEMA IF NOT EXISTS {s}"),
    StateObject(
        "table",
        "schema_version",
        """CREATE TABLE IF NOT EXISTS {s}.schema_version (
    version           integer PRIMARY KEY,
    installed_at      timestamptz NOT NULL DEFAULT now(),
    expandctl_version text NOT NULL
)""",
        READ,  # written by init (and by a role that may create the layout) only
    ),
    StateObject(
        "table",
        "migrations",
        """CREATE TABLE IF NOT EXISTS {s}.migrations (
    id          text PRIMARY KEY,
    state       text NOT NULL DEFAULT 'pending',
    phases      jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    in_progress jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
)""",
        READ_WRITE,
    ),
    StateObject(
        "table",
        "events",
        """CREATE TABLE IF NOT EXISTS {s}.events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    migration_id text,
    phase        text,
    direction    text,
    action       text NOT NULL,
    outcome      text NOT NULL,
    duration_ms  bigint,
    os_user      text NOT NULL,
    host         text NOT NULL,
    version      text NOT NULL,
    pid          integer,
    detail       text
)""",
        # Append-only: the trigger below refuses UPDATE/DELETE, so they are not granted.
        # An identity column needs no grant on its sequence.
        ("SELECT", "INSERT"),
    ),
    StateObject(
        "index",
        "events_migration_idx",
        "CREATE INDEX IF NOT EXISTS events_migration_idx ON {s}.events (migration_id, id)",
    ),
    StateObject(
        "function",
        "events_append_only",
        """CREATE OR REPLACE FUNCTION {s}.events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the expandctl event log is append-only';
END;
$$""",
    ),
    StateObject(
        "trigger",
        "events_append_only",
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {s}.events"
        " FOR EACH STATEMENT EXECUTE FUNCTION {s}.events_append_only()",
    ),
    StateObject(
        "table",
        "backfill_checkpoints",
        """CREATE TABLE IF NOT EXISTS {s}.backfill_checkpoints (
    migration_id    text NOT NULL,
    idx             integer NOT NULL,
    table_name      text NOT NULL,
    key_columns     text[] NOT NULL,
    last_key        text[],
    end_key         text[],
    pass_number     integer NOT NULL DEFAULT 1,
    rows_done       bigint NOT NULL DEFAULT 0,
    rows_scanned    bigint NOT NULL DEFAULT 0,
    rows_estimate   bigint NOT NULL DEFAULT 0,
    batches         integer NOT NULL DEFAULT 0,
    retries         integer NOT NULL DEFAULT 0,
    last_batch_size integer NOT NULL DEFAULT 0,
    last_batch_ms   double precision NOT NULL DEFAULT 0,
    busy_seconds    double precision NOT NULL DEFAULT 0,
    finished        boolean NOT NULL DEFAULT false,
    remaining       bigint,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (migration_id, idx)
)""",
        READ_WRITE,
    ),
    StateObject(
        "table",
        "backfill_control",
        """CREATE TABLE IF NOT EXISTS {s}.backfill_control (
    migration_id text PRIMARY KEY,
    paused       boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
)""",
        READ_WRITE,
    ),
    StateObject(
        "table",
        "backfill_ranges",
        # A parallel backfill pass: one row per disjoint key range (first_key, end_key],
        # written by its worker in the same transaction as each batch. The pass's row in
        # backfill_checkpoints keeps what was done before the split.
        """CREATE TABLE IF NOT EXISTS {s}.backfill_ranges (
    migration_id    text NOT NULL,
    idx             integer NOT NULL,
    range_no        integer NOT NULL,
    pass_number     integer NOT NULL,
    first_key       text[],
    last_key        text[],
    end_key         text[] NOT NULL,
    rows_done       bigint NOT NULL DEFAULT 0,
    rows_scanned    bigint NOT NULL DEFAULT 0,
    batches         integer NOT NULL DEFAULT 0,
    retries         integer NOT NULL DEFAULT 0,
    last_batch_size integer NOT NULL DEFAULT 0,
    last_batch_ms   double precision NOT NULL DEFAULT 0,
    busy_seconds    double precision NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (migration_id, idx, range_no)
)""",
        READ_WRITE,
    ),
    StateObject(
        "table",
        "lease",
        # The fencing token of the run that last took the migration lock: every work
        # transaction reads it FOR SHARE (which needs UPDATE) and each run bumps it.
        """CREATE TABLE IF NOT EXISTS {s}.lease (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    token    bigint NOT NULL,
    holder   text NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
)""",
        ("SELECT", "INSERT", "UPDATE"),
    ),
    StateObject(
        "table",
        "lane",
        # One row per migration whose backfill ran with the schema lock handed back:
        # its batches are fenced by this token instead of the schema-wide lease.
        """CREATE TABLE IF NOT EXISTS {s}.lane (
    migration_id text PRIMARY KEY,
    token        bigint NOT NULL,
    holder       text NOT NULL,
    taken_at     timestamptz NOT NULL DEFAULT now()
)""",
        ("SELECT", "INSERT", "UPDATE"),
    ),
    # Last: the row that says this layout is complete.
    StateObject(
        "version",
        str(STATE_LAYOUT_VERSION),
        "INSERT INTO {s}.schema_version (version, expandctl_version)"
        " VALUES ({version}, {expandctl_version}) ON CONFLICT DO NOTHING",
    ),
)

TABLES = tuple(o for o in LAYOUT if o.kind == "table")
DOCS = "docs/security.md"

# One catalog query, answerable by any role: which of our objects exist, and may we use them.
_PROBE = """
SELECT 'schema', '' FROM pg_namespace WHERE nspname = %(s)s
UNION ALL
SELECT CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s
UNION ALL
SELECT 'function', p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s
UNION ALL
SELECT 'trigger', t.tgname FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(s)s AND NOT t.tgisinternal
UNION ALL
SELECT 'usage', '' FROM pg_namespace
 WHERE nspname = %(s)s AND has_schema_privilege(oid, 'USAGE')
UNION ALL
SELECT 'role', current_user
"""


@dataclass(frozen=True)
class Catalog:
    """What the catalog says about the state schema, for the current role."""

    schema: str
    role: str
    found: frozenset[tuple[str, str]]

    @property
    def schema_exists(self) -> bool:
        return ("schema", "") in self.found

    def missing(self, objects: Iterable[StateObject] = LAYOUT) -> list[StateObject]:
        return [o for o in objects if (o.kind, o.name) not in self.found]


def probe(conn: psycopg.Connection[Any], schema: str, *, version: bool = True) -> Catalog:
    """Read the catalog; raise the init hint if the schema exists but this role may not use it.

    ``version=False`` skips reading ``schema_version`` (one query less) for callers
    that only ask whether tables exist.
    """
    rows = conn.execute(_PROBE, {"s": schema}).fetchall()
    role = next((str(name) for kind, name in rows if kind == "role"), "?")
    found = {(str(kind), str(name)) for kind, name in rows if kind != "role"}
    if ("schema", "") in found and ("usage", "") not in found:
        raise ConfigError(
            f"role {role} may not use the state schema {schema}: run "
            f"'expandctl init --grant {role}' as an administrator (see {DOCS})"
        )
    if version and ("table", "schema_version") in found and _has_version(conn, schema):
        found.add(("version", str(STATE_LAYOUT_VERSION)))
    return Catalog(schema, role, frozenset(found))


def _has_version(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT FROM {}.schema_version WHERE version = %s)").format(
            sql.Identifier(schema)
        ),
        (STATE_LAYOUT_VERSION,),
    ).fetchone()
    return bool(row and row[0])


def state_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    """True once the state tables exist (read from the catalog, no privilege needed)."""
    return ("table", "schema_version") in probe(conn, schema, version=False).found


def tables_exist(conn: psycopg.Connection[Any], schema: str, *names: str) -> bool:
    found = probe(conn, schema, version=False).found
    return all(("table", name) in found for name in names)


def create_statements(schema: str, objects: Iterable[StateObject]) -> list[sql.Composed]:
    """The DDL of ``objects``, in layout order."""
    values = {
        "s": sql.Identifier(schema),
        "version": sql.Literal(STATE_LAYOUT_VERSION),
        "expandctl_version": sql.Literal(__version__),
    }
    return [sql.SQL(o.ddl).format(**values) for o in objects]


def grant_statements(schema: str, role: str, *, read_only: bool = False) -> list[sql.Composed]:
    """Exactly what a deploy role (or, ``read_only``, a role that only looks) needs."""
    s, r = sql.Identifier(schema), sql.Identifier(role)
    statements = [sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r)]
    for table in TABLES:
        privileges = READ if read_only else table.deploy_privileges
        statements.append(
            sql.SQL("GRANT {} ON {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges),
                sql.Identifier(schema, table.name),
                r,
            )
        )
    return statements


def grantees(conn: psycopg.Connection[Any], schema: str) -> dict[str, bool]:
    """Roles granted access to the state (True: deploy, False: read only), from its ACL."""
    rows = conn.execute(
        "SELECT r.rolname, bool_or(a.privilege_type = 'INSERT')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE n.nspname = %s AND c.relname = 'migrations' AND a.grantee <> c.relowner"
        " GROUP BY r.rolname ORDER BY r.rolname",
        (schema,),
    ).fetchall()
    return {str(role): bool(deploy) for role, deploy in rows}


def foreign_owners(conn: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    """Existing state tables this role may not grant on (neither owner nor superuser)."""
    rows = conn.execute(
        "SELECT c.relname, c.relowner::regrole::text"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s)"
        " AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1",
        (schema, [t.name for t in TABLES]),
    ).fetchall()
    return {str(name): str(owner) for name, owner in rows}


def lock_layout(conn: psycopg.Connection[Any], schema: str) -> None:
    """Serialise layout changes (two runners starting together); call inside a transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('expandctl.layout.' || %s))", (schema,))


def ensure(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create what is missing, or say that an administrator must; never DDL when all is there."""
    if not probe(conn, schema).missing():
        return
    with conn.transaction():
        lock_layout(conn, schema)
        catalog = probe(conn, schema)  # again under the lock: another runner may have done it
        todo = catalog.missing()
        try:
            for statement in create_statements(schema, todo):
                conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            raise cannot_create(catalog, todo) from None


def cannot_create(catalog: Catalog, todo: list[StateObject]) -> ConfigError:
    schema, role = catalog.schema, catalog.role
    if not catalog.schema_exists:
        what = f"the state schema {schema} does not exist and {role} cannot create it"
    else:
        names = ", ".join(o.label(schema) for o in todo)
        what = f"the state schema {schema} lacks {names} and {role} cannot create them"
    return ConfigError(f"{what}: run 'expandctl init' as an administrator (see {DOCS})")
