"""What the linter knows at a statement: phase, version, and what came before.

The context is how the rules avoid false alarms: a table created earlier in
the same file or migration is new and empty, a CHECK validated earlier makes
SET NOT NULL cheap, a rollback file may drop what its forward file created,
and contract may drop what the manifest lists in ``retires``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expandctl.lint import actions as a
from expandctl.model.phases import Phase

if TYPE_CHECKING:  # a pydantic model: a plain .sql file has no retires to import it for
    from expandctl.model.retires import RetiredObject

Key = tuple[str, str]  # (kind, normalised name), e.g. ("table", "users")


def norm(name: str) -> str:
    """Names compare without the implicit ``public.`` schema."""
    return name.removeprefix("public.")


@dataclass
class TransactionState:
    open_at: object | None = None  # the BEGIN statement, while a block is open
    exclusive_table: str | None = None  # a strong lock is held on this existing table
    exclusive_mode: str = "ACCESS EXCLUSIVE"  # or SHARE ROW EXCLUSIVE (foreign keys, triggers)
    exclusive_reported: bool = False


@dataclass
class LintContext:
    """Mutable: the runner updates it after every statement (see ``apply``)."""

    phase: Phase = Phase.EXPAND
    pg_version: int = 15
    rollback: bool = False
    retires: frozenset[RetiredObject] = frozenset()
    # created in this migration before the current file (new and empty: no lock worries)
    migration_created: set[Key] = field(default_factory=set)
    # created in the current file (also new to old code: no compatibility worries)
    file_created: set[Key] = field(default_factory=set)
    # created by the forward file of the phase a rollback file undoes
    forward_created: set[Key] = field(default_factory=set)
    validated_not_null: set[Key] = field(default_factory=set)  # ("users", "email")
    pending_not_null: dict[Key, str] = field(default_factory=dict)  # (table, constraint) -> column
    not_null_columns: set[Key] = field(default_factory=set)
    nullable_columns: set[Key] = field(default_factory=set)
    # table -> the tables whose lock dropping it also takes (its foreign keys'
    # targets, the parent it inherits from or is a partition of)
    linked_tables: dict[str, set[str]] = field(default_factory=dict)
    # new tables (and materialized views) that hold rows copied from existing
    # data: CREATE TABLE ... AS, INSERT INTO ... SELECT. New, but not empty.
    filled_tables: set[str] = field(default_factory=set)
    # (table, constraint) -> the table a foreign key added in this migration references
    fk_targets: dict[Key, str] = field(default_factory=dict)
    tx: TransactionState = field(default_factory=TransactionState)
    # Phase files and operation SQL: ``advance`` runs consecutive transactional
    # statements in one transaction (a group) and autocommit ones alone, so a
    # strong lock is held until the group ends even without BEGIN/COMMIT.
    managed_transactions: bool = False
    group: TransactionState = field(default_factory=TransactionState)
    # The current statement runs alone, in autocommit: its plan step says so
    # (a CONCURRENTLY statement, or e.g. set_not_null's VALIDATE CONSTRAINT),
    # or, for text outside a plan, model.planning.needs_autocommit does.
    runs_alone: bool = False

    # --- questions the rules ask ----------------------------------------

    def is_new_table(self, table: str | None) -> bool:
        """Created earlier in this file or migration: empty, nobody waits on its locks."""
        if table is None:
            return False
        name = norm(table)
        # Looked up in each set, never in their union: building it per question
        # made a file of n statements cost n^2 (20,000 ADD COLUMNs: 20 s).
        created = (self.file_created, self.migration_created)
        return any(
            (kind, name) in found for kind in ("table", "materialized view") for found in created
        )

    def is_filled_table(self, table: str | None) -> bool:
        """A new table filled from existing data: its rows are a full copy, not none."""
        return table is not None and norm(table) in self.filled_tables

    def foreign_key_target(self, table: str | None, constraint: str) -> str | None:
        """The table a dropped constraint references, when it is (or may be) a foreign key.

        Known for foreign keys added in this migration; a name ending in ``_fkey``
        or ``_fk`` (PostgreSQL's and most tools' naming) may be one: "?", unknown.
        """
        known = self.fk_targets.get((norm(table or ""), constraint))
        if known is not None:
            return known
        return "?" if constraint.lower().endswith(("_fkey", "_fk")) else None

    def no_traffic_on(self, table: str) -> bool:
        """No query of the running application holds or waits for a lock on this table.

        True for a new table (``is_new_table``) and, in a rollback, for one the
        forward file being undone created: the old code a rollback is for never
        knew it. About locks only: a forward-created table may hold rows by now.
        """
        if self.is_new_table(table):
            return True
        return self.rollback and ("table", norm(table)) in self.forward_created

    def is_new_column(self, table: str | None, column: str) -> bool:
        """A column of a table created in this migration.

        A column added to an existing table is not: the table has its rows,
        so a later SET NOT NULL or type change scans or rewrites all of them.
        """
        return self.is_new_table(table)

    def unknown_to_old_code(self, kind: str, name: str) -> bool:
        """Created in this very file (or, for a rollback, by its forward file).

        Old code cannot depend on it, so dropping or renaming it breaks nothing.
        A table's columns count as created with the table.
        """
        name = norm(name)
        keys = {(kind, name)}
        if kind == "table":
            keys.add(("renamed table", name))
        if kind == "column" and "." in name:
            keys.add(("table", name.rsplit(".", 1)[0]))
        sets = (self.file_created, self.forward_created) if self.rollback else (self.file_created,)
        return any(key in found for key in keys for found in sets)  # no union: see is_new_table

    def retired(self, kind: str, name: str) -> bool:
        """Declared in ``retires``, and we are in contract where retiring happens."""
        if self.phase is not Phase.CONTRACT or self.rollback:
            return False
        wanted = norm(name)  # already folded: quoted names keep their case
        object_kind = _OBJECT_KINDS.get(kind)
        for item in self.retires:
            if norm(item.name) == wanted and (object_kind is None or item.kind == object_kind):
                return True
            # retiring a table retires its columns too
            owner = wanted.rsplit(".", 1)[0]
            if kind == "column" and item.kind == "table" and owner == norm(item.name):
                return True
        return False

    @property
    def in_transaction(self) -> bool:
        """Inside an explicit BEGIN … COMMIT block."""
        return self.tx.open_at is not None

    def lock_holder(self) -> TransactionState | None:
        """The transaction a statement runs in: an explicit block, or the engine's group."""
        if self.tx.open_at is not None:
            return self.tx
        return self.group if self.managed_transactions else None

    # --- learning from a statement --------------------------------------

    def apply(self, statement: object, actions: tuple[a.Action, ...]) -> None:
        for action in actions:
            self._apply(statement, action)

    def _apply(self, statement: object, action: a.Action) -> None:
        learn = _LEARN.get(type(action))
        if learn is not None:
            learn(self, statement, action)
        self._apply_transaction(statement, action)

    # What each kind of action teaches the context (looked up by type: one
    # dictionary lookup per action instead of a dozen isinstance checks).

    def _learn_create_table(self, statement: object, action: a.CreateTable) -> None:
        if not action.table:
            return
        table = norm(action.table)
        self.file_created.add(("table", table))
        self._link(table, *action.links)
        if action.as_query:
            self.filled_tables.add(table)
        for col in action.columns:
            target = self.not_null_columns if col.not_null else self.nullable_columns
            target.add((table, col.name))

    def _learn_create_index(self, statement: object, action: a.CreateIndex) -> None:
        if action.name:
            self.file_created.add(("index", norm(action.name)))

    def _learn_create_object(self, statement: object, action: a.CreateObject) -> None:
        if action.name:
            self.file_created.add((action.kind, norm(action.name)))
            if action.kind == "materialized view":
                self.filled_tables.add(norm(action.name))

    def _learn_harmless(self, statement: object, action: a.Harmless) -> None:
        table = action.table
        if action.what != "INSERT" or not table or not self.is_new_table(table):
            return
        if _SELECT.search(_text_of(statement)):  # INSERT ... SELECT: filled from existing rows
            self.filled_tables.add(norm(table))

    def _learn_add_column(self, statement: object, action: a.AddColumn) -> None:
        if not action.table:
            return
        table = norm(action.table)
        self.file_created.add(("column", f"{table}.{action.column.name}"))
        target = self.not_null_columns if action.column.not_null else self.nullable_columns
        target.add((table, action.column.name))
        if action.column.references:
            self._link(table, action.column.references)
            name = f"{table}_{action.column.name}_fkey"
            self.fk_targets[(table, name)] = norm(action.column.references)

    def _learn_add_constraint(self, statement: object, action: a.AddConstraint) -> None:
        if action.table:
            self._apply_constraint(action)

    def _learn_validate(self, statement: object, action: a.ValidateConstraint) -> None:
        if action.table:
            proven = self.pending_not_null.pop((norm(action.table), action.name), None)
            if proven is not None:
                self.validated_not_null.add((norm(action.table), proven))

    def _learn_set_not_null(self, statement: object, action: a.SetNotNull) -> None:
        if action.table:
            self.not_null_columns.add((norm(action.table), action.column))

    def _learn_drop_not_null(self, statement: object, action: a.DropNotNull) -> None:
        if action.table:
            self.nullable_columns.add((norm(action.table), action.column))
            self.not_null_columns.discard((norm(action.table), action.column))

    def _learn_rename(self, statement: object, action: a.Rename) -> None:
        if action.kind != "table":
            return
        # Renaming keeps what the table is: a new one stays new, an existing
        # one (with its rows and its traffic) is not new under its new name.
        if self.is_new_table(action.name):
            self.file_created.add(("table", norm(action.new_name)))
            if self.is_filled_table(action.name):
                self.filled_tables.add(norm(action.new_name))
        else:  # the name is new to old code (a rollback may rename it back)
            self.file_created.add(("renamed table", norm(action.new_name)))

    def _learn_partition(self, statement: object, action: a.Partition) -> None:
        if action.how == "attach" and action.partition:
            self._link(norm(action.partition), action.table or "")

    def _link(self, table: str, *others: str) -> None:
        self.linked_tables.setdefault(table, set()).update(norm(o) for o in others if o)

    def _apply_constraint(self, action: a.AddConstraint) -> None:
        table = norm(action.table or "")
        if action.name:
            self.file_created.add(("constraint", f"{table}.{action.name}"))
        if action.references:
            self._link(table, action.references)
            if action.name:
                self.fk_targets[(table, action.name)] = norm(action.references)
        if action.not_null_column is None:
            return
        if action.not_valid:
            self.pending_not_null[(table, action.name)] = action.not_null_column
        else:
            self.validated_not_null.add((table, action.not_null_column))

    def _apply_transaction(self, statement: object, action: a.Action) -> None:
        tx = self.tx
        if self.managed_transactions and tx.open_at is None and not isinstance(action, a.Begin):
            if self.runs_alone:
                self.end_group()  # it runs alone: the group before it committed
            elif self.group.exclusive_table is None:
                self._hold(self.group, action)
            return
        if isinstance(action, a.Begin):
            if tx.open_at is None:
                tx.open_at = statement
        elif isinstance(action, a.EndTransaction):
            self.tx = TransactionState()
        elif tx.open_at is not None and tx.exclusive_table is None:
            self._hold(tx, action)

    def _hold(self, holder: TransactionState, action: a.Action) -> None:
        """Remember the first busy table the action locks strongly, until the transaction ends."""
        for table, mode in strong_locks(action, self):
            if not self.no_traffic_on(table):
                holder.exclusive_table, holder.exclusive_mode = table, mode
                return

    def end_group(self) -> None:
        """The engine committed the current group (a step ran alone)."""
        self.group = TransactionState()

    def next_file(self) -> None:
        """The file is done: what it created is now 'earlier in the migration'."""
        self.migration_created |= self.file_created
        self.file_created = set()
        self.tx = TransactionState()
        self.group = TransactionState()


# The statement's object kind -> ``model.retires.ObjectKind``'s value (a StrEnum:
# equal to its value, compared without importing the pydantic module).
_OBJECT_KINDS: dict[str, str] = {
    "table": "table",
    "column": "column",
    "index": "index",
    "view": "view",
    "materialized view": "view",
    "function": "function",
    "procedure": "function",
    "trigger": "trigger",
    "type": "type",
    "domain": "type",
    "sequence": "sequence",
    "schema": "schema",
    "constraint": "constraint",
}

_EXCLUSIVE_ACTIONS = (
    a.AddColumn, a.DropColumn, a.AlterColumnType, a.SetNotNull, a.DropNotNull, a.DropDefault,
    a.AddConstraint, a.DropConstraint, a.Rewrite, a.Truncate, a.SetSchema,
)  # fmt: skip


_SELECT = re.compile(r"\bSELECT\b|\bTABLE\b", re.IGNORECASE)


def _text_of(statement: object) -> str:
    sql = getattr(statement, "sql", None)
    return str(getattr(sql, "text", ""))


def strong_locks(action: a.Action, ctx: LintContext) -> list[tuple[str, str]]:
    """(table, mode) of each lock the action takes that blocks writes, until commit.

    Checked on PostgreSQL 15 (tests/lint/test_lock_model_on_postgres.py): a
    foreign key takes SHARE ROW EXCLUSIVE on both tables; dropping one takes
    ACCESS EXCLUSIVE on both; ``ADD COLUMN ... REFERENCES t`` takes ACCESS
    EXCLUSIVE on its table and SHARE ROW EXCLUSIVE on t, so does CREATE TABLE
    with a REFERENCES on the table referenced; CREATE TRIGGER takes
    SHARE ROW EXCLUSIVE, DROP TRIGGER ACCESS EXCLUSIVE; GRANT takes none.
    """
    if isinstance(action, a.AddConstraint) and action.kind == "foreign key":
        tables = (action.table or "", action.references or "?")
        return [(t, "SHARE ROW EXCLUSIVE") for t in tables if t]
    if isinstance(action, a.AddColumn) and action.table and action.column.references:
        return [
            (action.table, "ACCESS EXCLUSIVE"),
            (action.column.references, "SHARE ROW EXCLUSIVE"),
        ]
    if isinstance(action, a.DropConstraint) and action.table:
        target = ctx.foreign_key_target(action.table, action.name)
        dropped = [action.table, target] if target else [action.table]
        return [(t, "ACCESS EXCLUSIVE") for t in dropped]
    if isinstance(action, a.CreateTable):
        return [(t, "SHARE ROW EXCLUSIVE") for t in action.references]
    if isinstance(action, a.CreateObject) and action.kind == "trigger" and action.table:
        return [(action.table, "SHARE ROW EXCLUSIVE")]
    if isinstance(action, a.DropObjects) and action.kind == "trigger" and action.table:
        return [(action.table, "ACCESS EXCLUSIVE")]
    table = takes_access_exclusive(action)
    return [(table, "ACCESS EXCLUSIVE")] if table is not None else []


def takes_access_exclusive(action: a.Action) -> str | None:
    """The table an action locks in ACCESS EXCLUSIVE mode, if it does."""
    if isinstance(action, a.AddConstraint) and action.kind == "foreign key":
        return None  # SHARE ROW EXCLUSIVE on both tables (see strong_locks)
    if isinstance(action, _EXCLUSIVE_ACTIONS):
        return action.table
    if isinstance(action, a.OtherAlterTable) and action.access_exclusive:
        return action.table
    if isinstance(action, a.Rename) and action.kind in ("table", "column"):
        return action.table
    if isinstance(action, a.DropObjects) and action.kind == "table":
        return action.table
    if isinstance(action, a.LockTable) and action.mode in ("ACCESS EXCLUSIVE", "EXCLUSIVE"):
        return action.table
    if isinstance(action, a.Partition) and not action.concurrently:
        return action.table
    return None


_LEARN: dict[type, Callable[[LintContext, object, Any], None]] = {
    a.CreateTable: LintContext._learn_create_table,
    a.CreateIndex: LintContext._learn_create_index,
    a.CreateObject: LintContext._learn_create_object,
    a.Harmless: LintContext._learn_harmless,
    a.AddColumn: LintContext._learn_add_column,
    a.AddConstraint: LintContext._learn_add_constraint,
    a.ValidateConstraint: LintContext._learn_validate,
    a.SetNotNull: LintContext._learn_set_not_null,
    a.DropNotNull: LintContext._learn_drop_not_null,
    a.Rename: LintContext._learn_rename,
    a.Partition: LintContext._learn_partition,
}
