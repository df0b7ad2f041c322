"""The explicit rule registry and rule selection (select / ignore / severity).

Adding a rule: one new module in ``rules/``, its fixture file in
``tests/lint/fixtures/``, and one line in ``RULES`` below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from expandctl.errors import ConfigError
from expandctl.lint.actions import Action
from expandctl.lint.records import Severity
from expandctl.lint.rule import DEFAULT_GROUPS, GROUPS, Rule
from expandctl.lint.rules.add_column_not_null_without_default import (
    AddColumnNotNullWithoutDefault,
)
from expandctl.lint.rules.add_column_rewrite import AddColumnRewrite
from expandctl.lint.rules.change_column_type import ChangeColumnType
from expandctl.lint.rules.column_type_rewrite import ColumnTypeRewrite
from expandctl.lint.rules.concurrently_in_transaction import ConcurrentlyInTransaction
from expandctl.lint.rules.constraint_added_validated import ConstraintAddedValidated
from expandctl.lint.rules.create_index_non_concurrently import CreateIndexNonConcurrently
from expandctl.lint.rules.delete_without_where import DeleteWithoutWhere
from expandctl.lint.rules.drop_cascade import DropCascade
from expandctl.lint.rules.drop_column import DropColumnRule
from expandctl.lint.rules.drop_default_on_not_null import DropDefaultOnNotNull
from expandctl.lint.rules.drop_index_non_concurrently import DropIndexNonConcurrently
from expandctl.lint.rules.drop_object import DropObjectRule
from expandctl.lint.rules.drop_table import DropTableRule
from expandctl.lint.rules.dynamic_sql import DynamicSql
from expandctl.lint.rules.enum_add_value_in_transaction import EnumAddValueInTransaction
from expandctl.lint.rules.explicit_lock_table import ExplicitLockTable
from expandctl.lint.rules.invalid_suppression import InvalidSuppression
from expandctl.lint.rules.nested_begin import NestedBegin
from expandctl.lint.rules.phase_transaction_holds_lock import PhaseTransactionHoldsLock
from expandctl.lint.rules.prefer_bigint_primary_key import PreferBigintPrimaryKey
from expandctl.lint.rules.prefer_jsonb import PreferJsonb
from expandctl.lint.rules.prefer_text import PreferText
from expandctl.lint.rules.prefer_timestamptz import PreferTimestamptz
from expandctl.lint.rules.psql_in_phase_file import PsqlInPhaseFile
from expandctl.lint.rules.psql_meta_command import PsqlMetaCommandNote
from expandctl.lint.rules.reindex_non_concurrently import ReindexNonConcurrently
from expandctl.lint.rules.rename_column import RenameColumnRule
from expandctl.lint.rules.rename_object import RenameObjectRule
from expandctl.lint.rules.rename_table import RenameTableRule
from expandctl.lint.rules.revoke_privileges import RevokePrivileges
from expandctl.lint.rules.set_not_null_without_check import SetNotNullWithoutCheck
from expandctl.lint.rules.set_schema import SetSchemaRule
from expandctl.lint.rules.statements_after_exclusive_lock import StatementsAfterExclusiveLock
from expandctl.lint.rules.syntax_error import SyntaxErrorRule
from expandctl.lint.rules.syntax_unverified import SyntaxUnverified
from expandctl.lint.rules.table_rewrite import TableRewrite
from expandctl.lint.rules.template_placeholder import TemplatePlaceholder
from expandctl.lint.rules.transaction_control_in_phase_file import (
    TransactionControlInPhaseFile,
)
from expandctl.lint.rules.transaction_left_open import TransactionLeftOpen
from expandctl.lint.rules.truncate_table import TruncateTable
from expandctl.lint.rules.unbatched_update_delete import UnbatchedUpdateDelete
from expandctl.lint.rules.unique_constraint_builds_index import UniqueConstraintBuildsIndex
from expandctl.lint.rules.unused_suppression import UnusedSuppression
from expandctl.lint.rules.unverifiable_statement import UnverifiableStatement
from expandctl.lint.rules.write_system_catalog import WriteSystemCatalog
from expandctl.model.lint_config import LintOptions
from expandctl.model.phases import Phase

RULES: tuple[Rule, ...] = (
    # locking
    CreateIndexNonConcurrently(),
    DropIndexNonConcurrently(),
    ReindexNonConcurrently(),
    ConstraintAddedValidated(),
    UniqueConstraintBuildsIndex(),
    SetNotNullWithoutCheck(),
    ColumnTypeRewrite(),
    AddColumnRewrite(),
    TableRewrite(),
    ExplicitLockTable(),
    StatementsAfterExclusiveLock(),
    UnbatchedUpdateDelete(),
    EnumAddValueInTransaction(),
    PhaseTransactionHoldsLock(),
    # compatibility
    DropColumnRule(),
    DropTableRule(),
    DropObjectRule(),
    RenameColumnRule(),
    RenameTableRule(),
    RenameObjectRule(),
    AddColumnNotNullWithoutDefault(),
    ChangeColumnType(),
    DropDefaultOnNotNull(),
    RevokePrivileges(),
    SetSchemaRule(),
    # data-loss
    TruncateTable(),
    DeleteWithoutWhere(),
    WriteSystemCatalog(),
    DropCascade(),
    # transactions
    ConcurrentlyInTransaction(),
    NestedBegin(),
    TransactionLeftOpen(),
    TransactionControlInPhaseFile(),
    # input
    SyntaxErrorRule(),
    TemplatePlaceholder(),
    PsqlMetaCommandNote(),
    PsqlInPhaseFile(),
    # unverifiable
    UnverifiableStatement(),
    DynamicSql(),
    SyntaxUnverified(),
    # style (opt-in)
    PreferJsonb(),
    PreferText(),
    PreferTimestamptz(),
    PreferBigintPrimaryKey(),
    # suppression comments
    InvalidSuppression(),
    UnusedSuppression(),
)


class LintChoices(Protocol):
    """``[tool.expandctl.lint]``: ``model.config.LintSettings`` or the light
    ``model.lint_config.LintOptions`` (a plain lint run imports no pydantic)."""

    @property
    def select(self) -> Sequence[str]: ...
    @property
    def ignore(self) -> Sequence[str]: ...
    @property
    def severity(self) -> Mapping[str, str]: ...


_BY_KEY: dict[str, Rule] = {r.id.lower(): r for r in RULES} | {r.name: r for r in RULES}


def find_rule(key: str) -> Rule | None:
    """A rule by id (any case) or kebab-case name."""
    return _BY_KEY.get(key.strip().lower())


def resolve(keys: Iterable[str], *, what: str) -> set[str]:
    """Rule ids named by ids, names, groups, ``default`` or ``all``."""
    ids: set[str] = set()
    for raw in keys:
        key = raw.strip().lower()
        if key == "all":
            ids |= {r.id for r in RULES}
        elif key == "default":
            ids |= {r.id for r in RULES if r.group in DEFAULT_GROUPS}
        elif key in GROUPS:
            ids |= {r.id for r in RULES if r.group == key}
        elif (rule := find_rule(key)) is not None:
            ids.add(rule.id)
        else:
            raise ConfigError(
                f"unknown rule or group {raw!r} in {what}",
                hint="see 'docs/rules.md'; groups: " + ", ".join(GROUPS) + ", default, all",
            )
    return ids


@dataclass(frozen=True)
class RuleDispatch:
    """Which rules a file of one phase (and direction) runs, and where: the
    same for every such file, so worked out once per rule set."""

    by_type: dict[type[Action], tuple[Rule, ...]]  # the rules that look at an action type
    every: tuple[Rule, ...]  # rules with a check of their own that see every action
    finishing: tuple[Rule, ...]  # rules with a check at the end of the file


@dataclass
class RuleSet:
    """The enabled rules with their effective severity."""

    severities: dict[str, Severity]
    rules: tuple[Rule, ...] = field(init=False)
    _dispatch: dict[tuple[Phase, bool], RuleDispatch] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rules = tuple(r for r in RULES if r.id in self.severities)

    def enabled(self, rule_id: str) -> bool:
        return rule_id in self.severities

    def dispatch(self, phase: Phase, rollback: bool) -> RuleDispatch:
        """The rules of a file in ``phase`` (a ``.down.sql`` one when ``rollback``)."""
        key = (phase, rollback)
        found = self._dispatch.get(key)
        if found is None:
            found = self._dispatch[key] = _dispatch(
                tuple(r for r in self.rules if r.applies(phase, rollback))
            )
        return found


def _dispatch(applicable: tuple[Rule, ...]) -> RuleDispatch:
    by_type: dict[type[Action], tuple[Rule, ...]] = {}
    for rule in applicable:
        for action_type in rule.actions:
            by_type[action_type] = (*by_type.get(action_type, ()), rule)
    # A rule without a check (or finish) of its own is never called for it.
    return RuleDispatch(
        by_type=by_type,
        every=tuple(r for r in applicable if not r.actions and type(r).check is not Rule.check),
        finishing=tuple(r for r in applicable if type(r).finish is not Rule.finish),
    )


def rule_set(
    settings: LintChoices | None = None,
    *,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    severity: Mapping[str, str] | None = None,
) -> RuleSet:
    """Config first, then flags: ``select`` replaces, ``ignore`` adds, severity overrides."""
    settings = settings if settings is not None else LintOptions()
    chosen = list(select) or list(settings.select)
    enabled = (
        resolve(chosen, what="select")
        if chosen
        else {r.id for r in RULES if r.group in DEFAULT_GROUPS}
    )
    # broken or stale suppression comments are always reported unless ignored by name
    enabled |= {InvalidSuppression.id, UnusedSuppression.id}
    enabled -= resolve([*settings.ignore, *ignore], what="ignore")
    severities: dict[str, Severity] = {r.id: r.severity for r in RULES if r.id in enabled}
    overrides = {**settings.severity, **(severity or {})}
    for key, level in overrides.items():
        for rule_id in resolve([key], what="severity"):
            if level == "off":
                severities.pop(rule_id, None)
            elif level in ("error", "warning"):
                severities[rule_id] = "error" if level == "error" else "warning"
            else:
                raise ConfigError(f"severity for {key!r} must be error, warning or off")
    return RuleSet(severities)
