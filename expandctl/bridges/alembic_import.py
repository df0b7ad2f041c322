"""``expandctl import alembic REVISION``: an Alembic revision as declarative operations.

The revision's ``upgrade()`` runs against a recording ``op`` (an
``alembic.operations.Operations`` whose ``invoke`` keeps the operation
objects instead of running them), over an offline PostgreSQL context. Each
operation object is translated; what cannot be is rendered to SQL by
Alembic's own implementation and kept as a SQL step, with the reason.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expandctl.bridges.requires import require

require("alembic")

from alembic.operations import Operations, ops  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import Script  # noqa: E402
from sqlalchemy import Column, Identity, Table  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402
from sqlalchemy.sql.elements import TextClause  # noqa: E402
from sqlalchemy.sql.schema import (  # noqa: E402
    CheckConstraint,
    ForeignKeyConstraint,
    PrimaryKeyConstraint,
    UniqueConstraint,
)

from expandctl.bridges.imported import Imported  # noqa: E402
from expandctl.errors import UsageError  # noqa: E402

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_ACTIONS = {"no action", "restrict", "cascade", "set null", "set default"}


class Untranslatable(Exception):
    """An operation expandctl has no safe equivalent for; the message says why."""


def import_revision(script: Script) -> Imported:
    """The revision's operations, translated where expandctl has an equivalent."""
    imported = Imported(
        tool="alembic",
        revision=script.revision,
        path=Path(script.path),
        description=(script.doc or f"alembic revision {script.revision}").strip(),
        mark_applied=f"alembic stamp {script.revision}",
    )
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True},
    )
    recorder = _Recorder(context, imported, buffer, os.path.realpath(script.path))
    recorder._install_proxy()
    try:
        script.module.upgrade()
    except Exception as exc:
        raise UsageError(
            f"the revision's upgrade() failed while recording its operations: {exc}",
            path=script.path,
            hint="the importer runs upgrade() offline: code that queries the database "
            "cannot be imported; move it to a separate revision",
        ) from exc
    finally:
        recorder._remove_proxy()
    recorder.keep_stray_sql("SQL written outside an operation (batch_alter_table, …)")
    return imported


class _Recorder(Operations):
    """``op`` while the revision's upgrade() runs: keeps each operation, runs none."""

    def __init__(
        self, context: MigrationContext, imported: Imported, buffer: io.StringIO, path: str
    ) -> None:
        super().__init__(context)
        self.imported = imported
        self.buffer = buffer
        self.path = path

    def invoke(self, operation: Any) -> Any:
        self.keep_stray_sql("SQL written outside an operation (batch_alter_table, …)")
        source = f"op.{_method(operation)}{self._where()}"
        translate = _TRANSLATORS.get(type(operation))
        try:
            if translate is None:
                raise Untranslatable("expandctl has no declarative operation for it")
            try:
                translated = translate(operation)
            except (Untranslatable, UsageError):
                raise
            except Exception as exc:  # an argument form the importer does not know
                raise Untranslatable(f"the importer could not read it ({exc})") from exc
            self.imported.add_all(translated, source)
        except (Untranslatable, UsageError) as exc:
            super().invoke(operation)  # Alembic's own SQL for it, into the buffer
            self.imported.keep_sql(self._take(), source, str(exc))
        return None

    def _install_proxy(self) -> None:
        # alembic.op's proxies are registered for Operations itself, not subclasses
        attr_names, modules = self._setups[Operations]
        for globals_, _ in modules:
            globals_["_proxy"] = self
            for name in attr_names:
                globals_[name] = getattr(self, name)

    def _remove_proxy(self) -> None:
        attr_names, modules = self._setups[Operations]
        for globals_, _ in modules:
            globals_["_proxy"] = None
            for name in attr_names:
                globals_.pop(name, None)

    def keep_stray_sql(self, why: str) -> None:
        text = self._take()
        if text.strip():
            self.imported.keep_sql(text, "the revision", why)

    def _take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text

    def _where(self) -> str:
        frame = sys._getframe(2)
        while frame is not None:
            if os.path.realpath(frame.f_code.co_filename) == self.path:
                return f" (line {frame.f_lineno})"
            frame = frame.f_back  # type: ignore[assignment]
        return ""


def _method(operation: Any) -> str:
    name = type(operation).__name__.removesuffix("Op")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


# --- translations: one function per Alembic operation class -------------------------

Fields = dict[str, Any]


def _table(operation: Any, key: str = "table_name") -> Fields:
    fields: Fields = {"table": getattr(operation, key)}
    if getattr(operation, "schema", None):
        fields["schema"] = operation.schema
    return fields


def _type(sa_type: Any) -> str:
    return str(sa_type.compile(dialect=_DIALECT)).lower()


def _sql(clause: Any) -> str:
    if isinstance(clause, str):
        return clause
    if isinstance(clause, TextClause):
        return clause.text
    return str(clause.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


def _default(server_default: Any) -> str | None:
    """A server default as SQL; a plain string is a literal, as SQLAlchemy renders it."""
    if server_default is None or server_default is False or isinstance(server_default, Identity):
        return None
    arg = getattr(server_default, "arg", server_default)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    return _sql(arg)


def _add_column(operation: ops.AddColumnOp) -> list[Fields]:
    column: Column[Any] = operation.column
    if column.foreign_keys or column.primary_key or column.computed is not None:
        raise Untranslatable("a foreign key, primary key or generated column is added in one step")
    if column.identity is not None:
        raise Untranslatable("an identity column fills every existing row (a table rewrite)")
    fields = _table(operation) | {"column": column.name, "type": _type(column.type)}
    default = _default(column.server_default)
    if default is not None:
        fields["default"] = default
    if column.nullable is False:
        if default is None:
            raise Untranslatable(
                f"NOT NULL without a server default: the running application version inserts "
                f"rows without {column.name} and would fail; give the column a server_default "
                "(then it is an add_column with default and not_null)"
            )
        fields["not_null"] = True
    return [{"op": "add_column"} | fields]


def _drop_column(operation: ops.DropColumnOp) -> list[Fields]:
    return [{"op": "drop_column"} | _table(operation) | {"column": operation.column_name}]


def _alter_column(operation: ops.AlterColumnOp) -> list[Fields]:
    changes = {
        "name": operation.modify_name is not None,
        "type": operation.modify_type is not None,
        "nullable": operation.modify_nullable is not None,
        "default": operation.modify_server_default is not False,
        "comment": operation.modify_comment is not False,
    }
    changed = [k for k, v in changes.items() if v]
    base = _table(operation) | {"column": operation.column_name}
    if changed == ["nullable"]:
        return [
            {"op": "set_not_null" if operation.modify_nullable is False else "drop_not_null"} | base
        ]
    if changed not in (["name"], ["type"]):
        raise Untranslatable(f"it changes {' and '.join(changed) or 'nothing'} at once")
    if operation.existing_type is None:
        raise Untranslatable(
            "Alembic does not say the column's type: add existing_type=… (and existing_nullable, "
            "existing_server_default) to the alter_column call and import again"
        )
    old_type = _type(operation.existing_type)
    not_null = {"not_null": True} if operation.existing_nullable is False else {}
    if changed == ["name"]:
        default = _default(operation.existing_server_default)
        return [
            {"op": "rename_column"}
            | base
            | {"to": operation.modify_name, "type": old_type}
            | not_null
            | ({"default": default} if default else {})
        ]
    return [
        {"op": "retype_column"}
        | base
        | {"from_type": old_type, "type": _type(operation.modify_type)}
        | not_null
    ]


def _create_index(operation: ops.CreateIndexOp) -> list[Fields]:
    if operation.index_name is None or not all(isinstance(c, str) for c in operation.columns):
        raise Untranslatable("an unnamed or expression index")
    extra = set(operation.kw) - {"postgresql_where", "postgresql_using", "postgresql_concurrently"}
    if extra:
        raise Untranslatable(f"index options expandctl does not carry: {', '.join(sorted(extra))}")
    fields: Fields = (
        {"op": "create_index"}
        | _table(operation)
        | {
            "name": str(operation.index_name),
            "columns": [str(c) for c in operation.columns],
        }
    )
    if operation.unique:
        fields["unique"] = True
    if operation.kw.get("postgresql_using"):
        fields["using"] = str(operation.kw["postgresql_using"])
    if operation.kw.get("postgresql_where") is not None:
        fields["where"] = _sql(operation.kw["postgresql_where"])
    return [fields]


def _drop_index(operation: ops.DropIndexOp) -> list[Fields]:
    fields: Fields = {"op": "drop_index", "name": str(operation.index_name)}
    if operation.schema:
        fields["schema"] = operation.schema
    return [fields]


def _create_table(operation: ops.CreateTableOp) -> list[Fields]:
    table: Table = operation.to_table()
    serial = table.autoincrement_column
    columns: list[Fields] = []
    for column in table.columns:
        if column.computed is not None:
            raise Untranslatable(f"generated column {column.name}")
        entry: Fields = {"name": column.name, "type": _type(column.type)}
        if isinstance(column.identity, Identity):
            if column.identity.always:
                raise Untranslatable("GENERATED ALWAYS AS IDENTITY (create_table has BY DEFAULT)")
            entry["identity"] = True
        elif column is serial and entry["type"] in ("integer", "bigint", "smallint"):
            entry["type"] = {"integer": "serial", "bigint": "bigserial"}.get(
                entry["type"], "smallserial"
            )
        if not column.nullable:
            entry["not_null"] = True
        default = _default(column.server_default)
        if default is not None:
            entry["default"] = default
        columns.append(entry)
    base = _table(operation)
    fields: Fields = {"op": "create_table"} | base | {"columns": columns}
    if table.primary_key.columns:
        fields["primary_key"] = [c.name for c in table.primary_key.columns]
    result = [fields]
    for constraint in sorted(table.constraints, key=lambda c: str(c.name or "")):
        if isinstance(constraint, PrimaryKeyConstraint):
            continue
        result.append(_constraint(constraint, base, table.name))
    return result


def _constraint(constraint: Any, base: Fields, table: str) -> Fields:
    columns = [c.name for c in constraint.columns]
    if isinstance(constraint, UniqueConstraint):
        name = str(constraint.name or f"{table}_{'_'.join(columns)}_key")
        return {"op": "add_unique"} | base | {"name": name, "columns": columns}
    if isinstance(constraint, CheckConstraint) and constraint.name:
        return (
            {"op": "add_check"}
            | base
            | {"name": str(constraint.name), "check": _sql(constraint.sqltext)}
        )
    if isinstance(constraint, ForeignKeyConstraint):
        target = constraint.elements[0].column.table
        return _foreign_key(
            base,
            str(constraint.name or f"{table}_{'_'.join(columns)}_fkey"),
            columns,
            target.name,
            target.schema,
            [e.column.name for e in constraint.elements],
            {
                "ondelete": constraint.ondelete,
                "onupdate": constraint.onupdate,
                "deferrable": constraint.deferrable,
                "initially": constraint.initially,
            },
        )
    raise Untranslatable(f"constraint {constraint.name or type(constraint).__name__}")


def _foreign_key(
    base: Fields,
    name: str,
    columns: list[str],
    target: str,
    target_schema: str | None,
    target_columns: list[str],
    kw: dict[str, Any],
) -> Fields:
    if kw.get("deferrable") or kw.get("initially") or kw.get("match"):
        raise Untranslatable("a DEFERRABLE / MATCH foreign key")
    fields: Fields = (
        {"op": "add_foreign_key"}
        | base
        | {
            "name": name,
            "columns": columns,
            "references": target,
            "references_columns": target_columns,
        }
    )
    if target_schema:
        fields["references_schema"] = target_schema
    for key, field in (("ondelete", "on_delete"), ("onupdate", "on_update")):
        action = str(kw.get(key) or "").lower()
        if action and action not in _ACTIONS:
            raise Untranslatable(f"{key}={action!r}")
        if action and action != "no action":
            fields[field] = action
    return fields


def _create_foreign_key(operation: ops.CreateForeignKeyOp) -> list[Fields]:
    if operation.constraint_name is None:
        raise Untranslatable("an unnamed foreign key (name it, as migrations should)")
    base: Fields = {"table": operation.source_table}
    if operation.kw.get("source_schema"):
        base["schema"] = operation.kw["source_schema"]
    return [
        _foreign_key(
            base,
            str(operation.constraint_name),
            list(operation.local_cols),
            operation.referent_table,
            operation.kw.get("referent_schema"),
            list(operation.remote_cols),
            operation.kw,
        )
    ]


def _create_unique(operation: ops.CreateUniqueConstraintOp) -> list[Fields]:
    if operation.constraint_name is None:
        raise Untranslatable("an unnamed unique constraint")
    return [
        {"op": "add_unique"}
        | _table(operation)
        | {"name": str(operation.constraint_name), "columns": list(operation.columns)}
    ]


def _create_check(operation: ops.CreateCheckConstraintOp) -> list[Fields]:
    if operation.constraint_name is None:
        raise Untranslatable("an unnamed check constraint")
    return [
        {"op": "add_check"}
        | _table(operation)
        | {"name": str(operation.constraint_name), "check": _sql(operation.condition)}
    ]


def _drop_table(operation: ops.DropTableOp) -> list[Fields]:
    return [{"op": "drop_table"} | _table(operation)]


def _rename_table(operation: ops.RenameTableOp) -> list[Fields]:
    return [{"op": "rename_table"} | _table(operation) | {"to": operation.new_table_name}]


def _execute(operation: ops.ExecuteSQLOp) -> list[Fields]:
    if not isinstance(operation.sqltext, str | TextClause):
        raise Untranslatable("a SQLAlchemy statement object")
    return [{"op": "sql", "expand": _sql(operation.sqltext).strip()}]


_TRANSLATORS: dict[type, Callable[[Any], list[Fields]]] = {
    ops.AddColumnOp: _add_column,
    ops.DropColumnOp: _drop_column,
    ops.AlterColumnOp: _alter_column,
    ops.CreateIndexOp: _create_index,
    ops.DropIndexOp: _drop_index,
    ops.CreateTableOp: _create_table,
    ops.DropTableOp: _drop_table,
    ops.RenameTableOp: _rename_table,
    ops.CreateForeignKeyOp: _create_foreign_key,
    ops.CreateUniqueConstraintOp: _create_unique,
    ops.CreateCheckConstraintOp: _create_check,
    ops.ExecuteSQLOp: _execute,
}
