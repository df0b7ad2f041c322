"""What a statement does, as plain facts the rules check.

Plain slotted dataclasses (not frozen: building ten thousand frozen ones is
measurably slower); nothing mutates them after the reader built them.

The statement reader (``classify``) turns each statement into one or more
actions; an ``ALTER TABLE`` with three clauses is three actions. Rules look
only at actions and the lint context, never at raw text, so a rule is a
handful of lines and the same facts feed every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Action:
    """Base class. ``table`` is the table the action locks or changes, if any."""

    table: str | None = None


@dataclass(slots=True)
class Column:
    name: str
    type_text: str = ""  # as written, e.g. "varchar(20)"
    type_words: tuple[str, ...] = ()  # upper-cased words of the type, e.g. ("VARCHAR",)
    type_has_length: bool = False
    not_null: bool = False
    primary_key: bool = False
    default: str | None = None  # the default expression as written
    default_volatile: bool = False
    identity: bool = False
    serial: bool = False
    generated_stored: bool = False
    references: str | None = None  # an inline REFERENCES other_table
    unique: bool = False  # an inline UNIQUE
    check: bool = False  # an inline CHECK


# --- creating things --------------------------------------------------------


@dataclass(slots=True)
class CreateTable(Action):
    columns: tuple[Column, ...] = ()
    primary_key_columns: tuple[str, ...] = ()
    # Other tables it is tied to, whose locks dropping it also takes: what its
    # foreign keys reference, the table it inherits from or partitions.
    links: tuple[str, ...] = ()
    as_query: bool = False  # CREATE TABLE ... AS: filled by running a query
    references: tuple[str, ...] = ()  # the tables its foreign keys reference


@dataclass(slots=True)
class CreateObject(Action):
    """CREATE VIEW / FUNCTION / TYPE / SEQUENCE / SCHEMA / TRIGGER ..."""

    kind: str = ""
    name: str = ""


@dataclass(slots=True)
class CreateIndex(Action):
    name: str = ""
    concurrently: bool = False
    unique: bool = False
    columns_text: str = ""


@dataclass(slots=True)
class AddColumn(Action):
    column: Column = field(default_factory=lambda: Column(name=""))


@dataclass(slots=True)
class AddConstraint(Action):
    name: str = ""
    kind: str = ""  # "foreign key", "check", "exclude", "unique", "primary key"
    not_valid: bool = False
    using_index: str | None = None
    definition: str = ""  # e.g. "CHECK (email IS NOT NULL)"
    not_null_column: str | None = None  # set for CHECK (col IS NOT NULL)
    references: str | None = None  # the table a FOREIGN KEY points at


@dataclass(slots=True)
class ValidateConstraint(Action):
    name: str = ""


# --- changing columns -------------------------------------------------------


@dataclass(slots=True)
class SetNotNull(Action):
    column: str = ""


@dataclass(slots=True)
class DropNotNull(Action):
    column: str = ""


@dataclass(slots=True)
class AlterColumnType(Action):
    column: str = ""
    type_text: str = ""
    type_words: tuple[str, ...] = ()
    type_has_length: bool = False
    using: bool = False


@dataclass(slots=True)
class DropDefault(Action):
    column: str = ""


# --- removing and renaming --------------------------------------------------


@dataclass(slots=True)
class DropColumn(Action):
    column: str = ""
    cascade: bool = False


@dataclass(slots=True)
class DropConstraint(Action):
    name: str = ""
    cascade: bool = False


@dataclass(slots=True)
class DropObjects(Action):
    """DROP TABLE / VIEW / INDEX / FUNCTION / TYPE / SCHEMA / SEQUENCE ... of one or more names."""

    kind: str = ""  # "table", "view", "materialized view", "index", "function", ...
    names: tuple[str, ...] = ()
    cascade: bool = False
    concurrently: bool = False


@dataclass(slots=True)
class Rename(Action):
    """ALTER ... RENAME: of a table, view, column, function, type, enum value ..."""

    kind: str = ""  # "table", "column", "view", "function", "type", "enum value", ...
    name: str = ""  # for a column: "table.column"
    new_name: str = ""


@dataclass(slots=True)
class SetSchema(Action):
    kind: str = ""
    name: str = ""
    schema: str = ""


# --- heavy operations and locks ---------------------------------------------


@dataclass(slots=True)
class Rewrite(Action):
    """VACUUM FULL, CLUSTER, SET TABLESPACE, SET LOGGED / UNLOGGED."""

    how: str = ""


@dataclass(slots=True)
class Reindex(Action):
    target: str = ""
    concurrently: bool = False


@dataclass(slots=True)
class LockTable(Action):
    tables: tuple[str, ...] = ()
    mode: str = "ACCESS EXCLUSIVE"


@dataclass(slots=True)
class Partition(Action):
    how: str = ""  # "attach", "detach"
    concurrently: bool = False
    partition: str = ""  # the table attached or detached (``table`` is the parent)


@dataclass(slots=True)
class OtherAlterTable(Action):
    """An ALTER TABLE clause no rule cares about (OWNER TO, SET (fillfactor) ...)."""

    clause: str = ""
    access_exclusive: bool = True


# --- data -------------------------------------------------------------------


@dataclass(slots=True)
class WriteRows(Action):
    """UPDATE or DELETE."""

    verb: str = ""  # "UPDATE" or "DELETE"
    where: bool = False  # has a WHERE that can narrow it
    trivial_where: bool = False  # WHERE true / 1 = 1
    # Limited to a key range or a small set (see ``rules._bounded``); None: not
    # judged yet, the rule reads the statement's own text.
    bounded: bool | None = None


@dataclass(slots=True)
class Truncate(Action):
    tables: tuple[str, ...] = ()
    cascade: bool = False


@dataclass(slots=True)
class Revoke(Action):
    text: str = ""


@dataclass(slots=True)
class EnumAddValue(Action):
    type_name: str = ""
    value: str = ""


# --- transactions, dynamic and unknown SQL ----------------------------------


@dataclass(slots=True)
class Begin(Action):
    pass


@dataclass(slots=True)
class EndTransaction(Action):
    verb: str = "COMMIT"


@dataclass(slots=True)
class Dynamic(Action):
    """DO blocks and EXECUTE: SQL that only exists at run time."""

    what: str = ""
    # A DO block that only reads the system catalog and raises (see ``do_block``).
    catalog_check: bool = False


@dataclass(slots=True)
class Unknown(Action):
    """Neither sqlglot nor the token reader could tell what this does."""

    reason: str = ""


@dataclass(slots=True)
class Harmless(Action):
    """A statement known to take no strong lock and break nothing (SELECT, INSERT, SET ...)."""

    what: str = ""


def display(name: str) -> str:
    """A name for messages: drops the implicit ``public.`` schema."""
    return name.removeprefix("public.")
