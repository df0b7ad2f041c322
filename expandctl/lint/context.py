"""What the linter knows at a statement: phase, version, and what came before.

The context is how the rules avoid false alarms: a table created earlier in
the same file or migration is new and empty, a CHECK validated earlier makes
SET NOT NULL cheap, a rollback file may drop what its forward file created,
and contract may drop what the manifest lists in ``retires``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from expandctl.lint import actions as a
from expandctl.model.phases import Phase
from expandctl.model.retires import ObjectKind, RetiredObject

Key = tuple[str, str]  # (kind, normalised name), e.g. ("table", "users")


def norm(name: str) -> str:
    """Names compare without the implicit ``public.`` schema."""
    return name.removeprefix("public.")


@dataclass
class TransactionState:
    open_at: object | None = None  # the BEGIN statement, while a block is open
    exclusive_table: str | None = None  # ACCESS EXCLUSIVE held on this table
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
        key = ("table", norm(table))
        return key in self.file_created or key in self.migration_created

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
        return self.is_new_table(table) or (
            table is not None
            and (
                ("column", f"{norm(table)}.{column}") in self.file_created
                or ("column", f"{norm(table)}.{column}") in self.migration_created
            )
        )

    def unknown_to_old_code(self, kind: str, name: str) -> bool:
        """Created in this very file (or, for a rollback, by its forward file).

        Old code cannot depend on it, so dropping or renaming it breaks nothing.
        A table's columns count as created with the table.
        """
        name = norm(name)
        keys = {(kind, name)}
        if kind == "column" and "." in name:
            keys.add(("table", name.rsplit(".", 1)[0]))
        mine = self.file_created | (self.forward_created if self.rollback else set())
        return bool(keys & mine)

    def retired(self, kind: str, name: str) -> bool:
        """Declared in ``retires``, and we are in contract where retiring happens."""
        if self.phase is not Phase.CONTRACT or self.rollback:
            return False
        wanted = norm(name).lower()
        object_kind = _OBJECT_KINDS.get(kind)
        for item in self.retires:
            if norm(item.name) == wanted and (object_kind is None or item.kind is object_kind):
                return True
            # retiring a table retires its columns too
            owner = wanted.rsplit(".", 1)[0]
            if kind == "column" and item.kind is ObjectKind.TABLE and owner == norm(item.name):
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
        if isinstance(action, a.CreateTable) and action.table:
            table = norm(action.table)
            self.file_created.add(("table", table))
            self._link(table, *action.links)
            for col in action.columns:
                target = self.not_null_columns if col.not_null else self.nullable_columns
                target.add((table, col.name))
        elif isinstance(action, a.CreateIndex) and action.name:
            self.file_created.add(("index", norm(action.name)))
        elif isinstance(action, a.CreateObject) and action.name:
            self.file_created.add((action.kind, norm(action.name)))
        elif isinstance(action, a.AddColumn) and action.table:
            table = norm(action.table)
            self.file_created.add(("column", f"{table}.{action.column.name}"))
            target = self.not_null_columns if action.column.not_null else self.nullable_columns
            target.add((table, action.column.name))
            if action.column.references:
                self._link(table, action.column.references)
        elif isinstance(action, a.AddConstraint) and action.table:
            self._apply_constraint(action)
        elif isinstance(action, a.ValidateConstraint) and action.table:
            proven = self.pending_not_null.pop((norm(action.table), action.name), None)
            if proven is not None:
                self.validated_not_null.add((norm(action.table), proven))
        elif isinstance(action, a.SetNotNull) and action.table:
            self.not_null_columns.add((norm(action.table), action.column))
        elif isinstance(action, a.DropNotNull) and action.table:
            self.nullable_columns.add((norm(action.table), action.column))
            self.not_null_columns.discard((norm(action.table), action.column))
        elif isinstance(action, a.Rename) and action.kind == "table":
            self.file_created.add(("table", norm(action.new_name)))
        elif isinstance(action, a.Partition) and action.how == "attach" and action.partition:
            self._link(norm(action.partition), action.table or "")
        self._apply_transaction(statement, action)

    def _link(self, table: str, *others: str) -> None:
        self.linked_tables.setdefault(table, set()).update(norm(o) for o in others if o)

    def _apply_constraint(self, action: a.AddConstraint) -> None:
        table = norm(action.table or "")
        if action.name:
            self.file_created.add(("constraint", f"{table}.{action.name}"))
        if action.references:
            self._link(table, action.references)
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
                table = takes_access_exclusive(action)
                if table is not None and not self.no_traffic_on(table):
                    self.group.exclusive_table = table
            return
        if isinstance(action, a.Begin):
            if tx.open_at is None:
                tx.open_at = statement
        elif isinstance(action, a.EndTransaction):
            self.tx = TransactionState()
        elif tx.open_at is not None and tx.exclusive_table is None:
            table = takes_access_exclusive(action)
            if table is not None and not self.no_traffic_on(table):
                tx.exclusive_table = table

    def end_group(self) -> None:
        """The engine committed the current group (a step ran alone)."""
        self.group = TransactionState()

    def next_file(self) -> None:
        """The file is done: what it created is now 'earlier in the migration'."""
        self.migration_created |= self.file_created
        self.file_created = set()
        self.tx = TransactionState()
        self.group = TransactionState()


_OBJECT_KINDS: dict[str, ObjectKind] = {
    "table": ObjectKind.TABLE,
    "column": ObjectKind.COLUMN,
    "index": ObjectKind.INDEX,
    "view": ObjectKind.VIEW,
    "materialized view": ObjectKind.VIEW,
    "function": ObjectKind.FUNCTION,
    "procedure": ObjectKind.FUNCTION,
    "trigger": ObjectKind.TRIGGER,
    "type": ObjectKind.TYPE,
    "domain": ObjectKind.TYPE,
    "sequence": ObjectKind.SEQUENCE,
    "schema": ObjectKind.SCHEMA,
    "constraint": ObjectKind.CONSTRAINT,
}

_EXCLUSIVE_ACTIONS = (
    a.AddColumn, a.DropColumn, a.AlterColumnType, a.SetNotNull, a.DropNotNull, a.DropDefault,
    a.AddConstraint, a.DropConstraint, a.Rewrite, a.Truncate, a.SetSchema,
)  # fmt: skip


def takes_access_exclusive(action: a.Action) -> str | None:
    """The table an action locks in ACCESS EXCLUSIVE mode, if it does."""
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
