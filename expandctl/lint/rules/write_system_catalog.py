"""D304 write-to-system-catalog."""

from __future__ import annotations

from collections.abc import Iterator

from expandctl.lint.actions import Action, Harmless, WriteRows
from expandctl.lint.context import LintContext
from expandctl.lint.rule import Rule, Violation
from expandctl.lint.source import Statement

# PostgreSQL 15's tables in pg_catalog. Unqualified, these names resolve to
# pg_catalog first (it is searched before the search_path unless listed in it).
CATALOG_TABLES = frozenset(
    {
        "pg_aggregate", "pg_am", "pg_amop", "pg_amproc", "pg_attrdef", "pg_attribute",
        "pg_auth_members", "pg_authid", "pg_cast", "pg_class", "pg_collation", "pg_constraint",
        "pg_conversion", "pg_database", "pg_db_role_setting", "pg_default_acl", "pg_depend",
        "pg_description", "pg_enum", "pg_event_trigger", "pg_extension", "pg_foreign_data_wrapper",
        "pg_foreign_server", "pg_foreign_table", "pg_index", "pg_inherits", "pg_init_privs",
        "pg_language", "pg_largeobject", "pg_largeobject_metadata", "pg_namespace", "pg_opclass",
        "pg_operator", "pg_opfamily", "pg_parameter_acl", "pg_partitioned_table", "pg_policy",
        "pg_proc", "pg_publication", "pg_publication_namespace", "pg_publication_rel", "pg_range",
        "pg_replication_origin", "pg_rewrite", "pg_seclabel", "pg_sequence", "pg_shdepend",
        "pg_shdescription", "pg_shseclabel", "pg_statistic", "pg_statistic_ext",
        "pg_statistic_ext_data", "pg_subscription", "pg_subscription_rel", "pg_tablespace",
        "pg_transform", "pg_trigger", "pg_ts_config", "pg_ts_config_map", "pg_ts_dict",
        "pg_ts_parser", "pg_ts_template", "pg_type", "pg_user_mapping",
    }
)  # fmt: skip


def is_system_catalog(table: str | None) -> bool:
    if not table:
        return False
    schema, _, name = table.lower().rpartition(".")
    if schema:
        return schema == "pg_catalog"
    return name in CATALOG_TABLES


class WriteSystemCatalog(Rule):
    """``UPDATE``, ``DELETE`` or ``INSERT`` on a system catalog (``pg_index``, ``pg_attribute``).

    Lock or breakage: the catalogs describe every table, index and type;
    PostgreSQL trusts them and keeps caches, derived rows and files in step
    with them only when it changes them itself. A hand-edited row
    (``indisvalid``, ``attnotnull``, ``pg_constraint``) silently breaks that:
    queries return wrong results, constraints stop being enforced, indexes
    go stale, dumps no longer restore. It needs superuser, so it also fails
    on managed databases and with least-privilege roles.

    Safe alternative: the DDL that makes the same change (``ALTER TABLE ...
    SET NOT NULL`` after a validated CHECK, ``REINDEX ... CONCURRENTLY``,
    ``ALTER TABLE ... VALIDATE CONSTRAINT``); PostgreSQL then keeps
    everything consistent.

    Bad:
        UPDATE pg_index SET indisvalid = true
        WHERE indexrelid = 'users_pkey'::regclass;

    Good:
        REINDEX INDEX CONCURRENTLY users_pkey;
    """

    id = "D304"
    name = "write-to-system-catalog"
    group = "data-loss"
    actions = (WriteRows, Harmless)

    def check(self, action: Action, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if isinstance(action, Harmless) and action.what != "INSERT":
            return
        if not is_system_catalog(action.table):
            return
        verb = action.verb if isinstance(action, WriteRows) else "INSERT"
        yield Violation(
            f"{verb} on the system catalog {action.table} edits PostgreSQL's own bookkeeping "
            "behind its back: caches, indexes and constraints can silently disagree with it "
            "(wrong results, constraints not enforced, corrupt dumps).",
            "use the DDL that makes this change (ALTER TABLE / ALTER INDEX / REINDEX / "
            "VALIDATE CONSTRAINT); never write to pg_catalog tables.",
        )
