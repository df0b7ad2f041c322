"""``expandctl import django APP MIGRATION``: a Django migration as declarative operations.

The migration's ``operations`` list is walked with the project state before
it (``MigrationLoader.project_state``), advanced by each operation's
``state_forwards``, so every field resolves to its real table, column and
database type. Each operation with an expandctl equivalent is translated; the
rest is rendered by Django's schema editor (``collect_sql``, as ``sqlmigrate``
does) and kept as a SQL step with the reason. Operations without SQL
(``AlterModelOptions``…) are skipped; ``RunPython`` is reported, not imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from expandctl.bridges.requires import require

require("django")

from django.db import DEFAULT_DB_ALIAS, connections, migrations, models  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402
from django.db.models.fields import NOT_PROVIDED  # noqa: E402

from expandctl.bridges.django_project import DjangoMigration, operation_lines  # noqa: E402
from expandctl.bridges.imported import Imported  # noqa: E402
from expandctl.errors import UsageError  # noqa: E402
from expandctl.model.sql_quote import quote_literal  # noqa: E402

Fields = dict[str, Any]


class Untranslatable(Exception):
    """An operation expandctl has no safe equivalent for; the message says why."""


class _Step:
    """One operation with the project state before and after it."""

    def __init__(self, app: str, operation: Any, before: Any, after: Any) -> None:
        self.app = app
        self.operation = operation
        self.before = before
        self.after = after
        self.connection = connections[DEFAULT_DB_ALIAS]

    def model(self, name: str, *, after: bool = False) -> Any:
        state = self.after if after else self.before
        return state.apps.get_model(self.app, name)

    def sql(self) -> str:
        """Django's own SQL for the operation (what sqlmigrate prints for it)."""
        with self.connection.schema_editor(collect_sql=True, atomic=False) as editor:
            self.operation.database_forwards(self.app, editor, self.before, self.after)
        return "\n".join(editor.collected_sql)

    def db_type(self, field: Any) -> str:
        return str(field.db_type(self.connection))


def import_migration(found: DjangoMigration) -> Imported:
    label = f"{found.app}.{found.name}"
    imported = Imported(
        tool="django",
        revision=label,
        path=found.path,
        description=f"{label}: " + "; ".join(op.describe() for op in found.migration.operations)
        if found.migration.operations
        else label,
        mark_applied=f"python manage.py migrate --fake {found.app} {found.name}",
        slug=f"{found.app}_{found.name.split('_', 1)[-1]}",
    )
    loader = MigrationLoader(None, ignore_no_migrations=True)
    state = loader.project_state((found.app, found.name), at_end=False)
    lines = operation_lines(found.path.read_text(encoding="utf-8"))
    for index, operation in enumerate(found.migration.operations):
        after = state.clone()
        operation.state_forwards(found.app, after)
        step = _Step(found.app, operation, state, after)
        where = f" (line {lines[index]})" if index < len(lines) else ""
        source = f"{type(operation).__name__}{where}"
        _translate(imported, step, source)
        state = after
    return imported


def _translate(imported: Imported, step: _Step, source: str) -> None:
    operation = step.operation
    if isinstance(operation, migrations.RunPython):
        imported.skip(source, "RunPython runs Python code: do it in a backfill or by hand")
        return
    translate = _TRANSLATORS.get(type(operation))
    try:
        if translate is None:
            raise Untranslatable("expandctl has no declarative operation for it")
        try:
            translated = translate(step)
        except (Untranslatable, UsageError):
            raise
        except Exception as exc:  # an argument form the importer does not know
            raise Untranslatable(f"the importer could not read it ({exc})") from exc
        imported.add_all(translated, source)
    except (Untranslatable, UsageError) as exc:  # UsageError: a translation that did not check
        imported.keep_sql(step.sql(), source, str(exc))


# --- translations: one function per Django operation class -----------------------


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return quote_literal(value)
    raise Untranslatable(f"a default expandctl cannot write as SQL ({value!r})")


def _column_default(field: Any) -> str | None:
    """The database default for rows old code inserts without the column."""
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    if db_default is not NOT_PROVIDED:
        return _literal(getattr(db_default, "value", db_default))
    if field.has_default() and not callable(field.default):
        return _literal(field.default)
    return None


def _add_field(step: _Step) -> list[Fields]:
    model = step.model(step.operation.model_name, after=True)
    field = model._meta.get_field(step.operation.name)
    if field.is_relation:
        raise Untranslatable("a foreign key column (Django names its constraint and index)")
    table = model._meta.db_table
    fields: Fields = {
        "op": "add_column",
        "table": table,
        "column": field.column,
        "type": step.db_type(field),
    }
    default = _column_default(field)
    if not field.null:
        if default is None:
            raise Untranslatable(
                f"NOT NULL without a constant default: the running application version inserts "
                f"rows without {field.column} and would fail; give the field a default or "
                "db_default (then it is an add_column with default and not_null)"
            )
        fields |= {"default": default, "not_null": True}
    elif default is not None:
        fields["default"] = default
    result = [fields]
    if field.unique:
        result.append(
            {
                "op": "add_unique",
                "table": table,
                "name": f"{table}_{field.column}_key",
                "columns": [field.column],
            }
        )
    elif field.db_index:
        result.append(
            {
                "op": "create_index",
                "table": table,
                "name": f"{table}_{field.column}_idx",
                "columns": [field.column],
            }
        )
    return result


def _remove_field(step: _Step) -> list[Fields]:
    model = step.model(step.operation.model_name)
    field = model._meta.get_field(step.operation.name)
    return [{"op": "drop_column", "table": model._meta.db_table, "column": field.column}]


def _rename_field(step: _Step) -> list[Fields]:
    operation = step.operation
    old = step.model(operation.model_name)._meta.get_field(operation.old_name)
    model = step.model(operation.model_name, after=True)
    new = model._meta.get_field(operation.new_name)
    if old.column == new.column:
        return []  # db_column kept the name: nothing changes in the database
    fields: Fields = {
        "op": "rename_column",
        "table": model._meta.db_table,
        "column": old.column,
        "to": new.column,
        "type": step.db_type(new),
    }
    if not new.null:
        fields["not_null"] = True
    if new.unique and not new.primary_key:
        fields["unique"] = True
    elif new.db_index:
        fields["index"] = True
    db_default = getattr(new, "db_default", NOT_PROVIDED)
    if db_default is not NOT_PROVIDED:
        fields["default"] = _literal(getattr(db_default, "value", db_default))
    if new.is_relation:
        target = new.target_field
        fields["references"] = target.model._meta.db_table
        fields["references_column"] = target.column
    return [fields]


def _alter_field(step: _Step) -> list[Fields]:
    operation = step.operation
    old = step.model(operation.model_name)._meta.get_field(operation.name)
    model = step.model(operation.model_name, after=True)
    new = model._meta.get_field(operation.name)
    table = model._meta.db_table
    old_type, new_type = step.db_type(old), step.db_type(new)
    same = (old.column, old.unique, old.db_index, old.is_relation) == (
        new.column,
        new.unique,
        new.db_index,
        new.is_relation,
    )
    if not same or not step.sql().strip():
        if not step.sql().strip():
            return []  # a Python-side change only (choices, help_text…)
        raise Untranslatable("it changes the column's name, uniqueness, index or relation")
    base = {"table": table, "column": new.column}
    if old_type == new_type and old.null != new.null:
        return [{"op": "drop_not_null" if new.null else "set_not_null"} | base]
    if old_type != new_type and old.null == new.null:
        not_null = {} if new.null else {"not_null": True}
        return [
            {"op": "retype_column"} | base | {"from_type": old_type, "type": new_type} | not_null
        ]
    raise Untranslatable("it changes more than one of type and NULL at once")


def _add_index(step: _Step) -> list[Fields]:
    index = step.operation.index
    if type(index) is not models.Index or index.condition is not None or index.expressions:
        raise Untranslatable("a partial, expression or special index")
    if index.opclasses or index.include or any(f.startswith("-") for f in index.fields):
        raise Untranslatable("an index with opclasses, INCLUDE or descending columns")
    model = step.model(step.operation.model_name, after=True)
    columns = [model._meta.get_field(f).column for f in index.fields]
    return [
        {
            "op": "create_index",
            "table": model._meta.db_table,
            "name": index.name,
            "columns": columns,
        }
    ]


def _remove_index(step: _Step) -> list[Fields]:
    return [{"op": "drop_index", "name": step.operation.name}]


def _create_model(step: _Step) -> list[Fields]:
    model = step.model(step.operation.name, after=True)
    table = model._meta.db_table
    columns: list[Fields] = []
    extra: list[Fields] = []
    for field in model._meta.local_fields:
        entry: Fields = {"name": field.column, "type": step.db_type(field)}
        if isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField):
            entry["identity"] = True
        if not field.null:
            entry["not_null"] = True
        db_default = getattr(field, "db_default", NOT_PROVIDED)
        if db_default is not NOT_PROVIDED:
            entry["default"] = _literal(getattr(db_default, "value", db_default))
        columns.append(entry)
        if field.is_relation:
            target = field.target_field
            extra.append(
                {
                    "op": "add_foreign_key",
                    "table": table,
                    "name": f"{table}_{field.column}_fkey",
                    "columns": [field.column],
                    "references": target.model._meta.db_table,
                    "references_columns": [target.column],
                }
            )
        if field.unique and not field.primary_key:
            extra.append(
                {
                    "op": "add_unique",
                    "table": table,
                    "name": f"{table}_{field.column}_key",
                    "columns": [field.column],
                }
            )
        elif field.db_index and not field.primary_key:
            extra.append(
                {
                    "op": "create_index",
                    "table": table,
                    "name": f"{table}_{field.column}_idx",
                    "columns": [field.column],
                }
            )
    created: Fields = {"op": "create_table", "table": table, "columns": columns}
    created["primary_key"] = [model._meta.pk.column]
    return [created, *extra]


def _delete_model(step: _Step) -> list[Fields]:
    return [{"op": "drop_table", "table": step.model(step.operation.name)._meta.db_table}]


def _rename_model(step: _Step) -> list[Fields]:
    operation = step.operation
    old = step.model(operation.old_name)._meta.db_table
    new = step.model(operation.new_name, after=True)._meta.db_table
    return [] if old == new else [{"op": "rename_table", "table": old, "to": new}]


def _alter_model_table(step: _Step) -> list[Fields]:
    old = step.model(step.operation.name)._meta.db_table
    new = step.model(step.operation.name, after=True)._meta.db_table
    return [] if old == new else [{"op": "rename_table", "table": old, "to": new}]


def _add_constraint(step: _Step) -> list[Fields]:
    constraint = step.operation.constraint
    model = step.model(step.operation.model_name, after=True)
    table = model._meta.db_table
    if isinstance(constraint, models.CheckConstraint):
        with step.connection.schema_editor(collect_sql=True, atomic=False) as editor:
            check = constraint._get_check_sql(model, editor)
        return [{"op": "add_check", "table": table, "name": constraint.name, "check": check}]
    if (
        isinstance(constraint, models.UniqueConstraint)
        and constraint.fields
        and constraint.condition is None
        and not constraint.include
        and not constraint.opclasses
        and constraint.deferrable is None
        and getattr(constraint, "nulls_distinct", None) is not False
    ):
        columns = [model._meta.get_field(f).column for f in constraint.fields]
        return [{"op": "add_unique", "table": table, "name": constraint.name, "columns": columns}]
    raise Untranslatable("a conditional, deferrable or expression constraint")


def _run_sql(step: _Step) -> list[Fields]:
    operation = step.operation

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return ";\n".join(v.strip().rstrip(";") for v in value)
        raise Untranslatable("RunSQL with parameters")

    fields: Fields = {"op": "sql", "expand": text(operation.sql)}
    if operation.reverse_sql not in (None, migrations.RunSQL.noop):
        fields["expand.down"] = text(operation.reverse_sql)
    return [fields]


_TRANSLATORS: dict[type, Callable[[_Step], list[Fields]]] = {
    migrations.AddField: _add_field,
    migrations.RemoveField: _remove_field,
    migrations.RenameField: _rename_field,
    migrations.AlterField: _alter_field,
    migrations.AddIndex: _add_index,
    migrations.RemoveIndex: _remove_index,
    migrations.CreateModel: _create_model,
    migrations.DeleteModel: _delete_model,
    migrations.RenameModel: _rename_model,
    migrations.AlterModelTable: _alter_model_table,
    migrations.AddConstraint: _add_constraint,
    migrations.RunSQL: _run_sql,
}
