"""Read what a statement does from its tokens.

sqlglot's PostgreSQL grammar leaves many DDL forms unparsed (multi-clause
``ALTER TABLE`` with ``NOT VALID``, ``VALIDATE CONSTRAINT``, ``USING INDEX``, ``ALTER TYPE
… ADD VALUE``, ``VACUUM``, ``REINDEX``, ``LOCK``, multi-name ``DROP INDEX`` …)
and returns an opaque ``Command`` or fails. DDL therefore goes through this
keyword reader, which knows each form the rules need; DML and anything the
reader does not recognise go to sqlglot's parser (see ``source``). What
neither understands becomes an ``Unknown`` action, reported as unverifiable:
nothing is silently passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expandctl.lint import actions as a
from expandctl.lint.columns import read_column
from expandctl.lint.tokens import (
    PUNCT,
    STRING,
    WORD,
    Cursor,
    Tok,
    inner_group,
    render,
    split_top_level,
)

if TYPE_CHECKING:  # do_block loads sqlglot: imported when a DO statement is met
    from expandctl.lint.do_block import NestedReader

# CREATE <kind> that only adds a new object (no lock on existing tables).
_CREATE_KINDS: tuple[tuple[str, ...], ...] = (
    ("MATERIALIZED", "VIEW"), ("RECURSIVE", "VIEW"), ("VIEW",), ("FUNCTION",), ("PROCEDURE",),
    ("CONSTRAINT", "TRIGGER"), ("TRIGGER",), ("EVENT", "TRIGGER"), ("TYPE",), ("DOMAIN",),
    ("SEQUENCE",), ("SCHEMA",), ("EXTENSION",), ("ROLE",), ("USER",), ("GROUP",), ("POLICY",),
    ("RULE",), ("AGGREGATE",), ("OPERATOR",), ("COLLATION",), ("PUBLICATION",),
    ("SUBSCRIPTION",), ("STATISTICS",), ("TEXT", "SEARCH"), ("CAST",), ("SERVER",),
    ("FOREIGN", "DATA", "WRAPPER"), ("FOREIGN", "TABLE"), ("USER", "MAPPING"), ("CONVERSION",),
    ("LANGUAGE", ), ("TRANSFORM",), ("ACCESS", "METHOD"), ("TABLESPACE",), ("DATABASE",),
)  # fmt: skip
# DROP / ALTER <kind>.
_OBJECT_KINDS: tuple[tuple[str, ...], ...] = (
    ("MATERIALIZED", "VIEW"), ("FOREIGN", "TABLE"), ("TABLE",), ("VIEW",), ("INDEX",),
    ("FUNCTION",), ("PROCEDURE",), ("ROUTINE",), ("AGGREGATE",), ("TYPE",), ("DOMAIN",),
    ("SCHEMA",), ("SEQUENCE",), ("TRIGGER",), ("EXTENSION",), ("POLICY",), ("RULE",),
    ("ROLE",), ("USER",), ("PUBLICATION",), ("SUBSCRIPTION",), ("STATISTICS",),
    ("COLLATION",), ("OPERATOR",), ("SERVER",), ("EVENT", "TRIGGER"), ("CAST",),
    ("TEXT", "SEARCH"), ("TABLESPACE",), ("DATABASE",),
)  # fmt: skip
_HARMLESS_FIRST = frozenset(
    {
        "SELECT", "INSERT", "VALUES", "SET", "RESET", "SHOW", "COMMENT", "GRANT", "ANALYZE",
        "ANALYSE", "NOTIFY", "LISTEN", "UNLISTEN", "DISCARD", "SAVEPOINT", "RELEASE", "SECURITY",
        "REFRESH", "CHECKPOINT", "DEALLOCATE", "DECLARE", "FETCH", "CLOSE", "MOVE", "EXPLAIN",
        "TABLE", "COPY", "IMPORT", "LOAD", "REASSIGN",
    }
)  # fmt: skip
_ALTER_TABLE_HARMLESS = (
    "ENABLE", "DISABLE", "FORCE", "NO", "OWNER", "REPLICA", "INHERIT", "OF", "NOT", "CLUSTER",
    "RESET",
)  # fmt: skip
_CONSTRAINT_STARTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE"})


class _Cursor(Cursor):
    """The token cursor with its look-ahead inlined: the reader asks ``accept`` a
    dozen times per statement, and one call instead of four per word is a third
    of the reader's time. Same answers as ``Cursor``'s (keywords are never "")."""

    __slots__ = ()

    def peek(self, ahead: int = 0) -> Tok | None:
        j = self.i + ahead
        toks = self.toks
        return toks[j] if j < len(toks) else None

    def word(self, ahead: int = 0) -> str:
        j = self.i + ahead
        toks = self.toks
        return toks[j].word if j < len(toks) else ""

    def at(self, *words: str) -> bool:
        start = self.i
        if self.accept(*words):
            self.i = start
            return True
        return False

    def accept(self, *words: str) -> bool:
        toks, i = self.toks, self.i
        n = len(words)
        if i + n > len(toks):
            return False
        # most calls fail on the first word: test it before looping
        if n and toks[i].word != words[0]:
            return False
        for k in range(1, n):
            if toks[i + k].word != words[k]:
                return False
        self.i = i + n
        return True


def classify(toks: list[Tok], read_nested: NestedReader) -> list[a.Action] | None:
    """The actions of one statement, or None when only a parser can tell (DML, unknown)."""
    cur = _Cursor(toks)
    first = cur.word()
    if first == "DO":
        return _do(cur, read_nested)
    handler = _HANDLERS.get(first)
    if handler is not None:
        return handler(cur)
    if first in _HARMLESS_FIRST:
        return [a.Harmless(what=first)]
    return None


# --- transactions and dynamic SQL -------------------------------------------


def _begin(cur: Cursor) -> list[a.Action]:
    return [a.Begin()]


def _start(cur: Cursor) -> list[a.Action] | None:
    return [a.Begin()] if cur.at("START", "TRANSACTION") else None


def _end(cur: Cursor) -> list[a.Action]:
    verb = cur.word()
    if verb == "ROLLBACK" and cur.word(1) in ("TO", "PREPARED"):
        return [a.Harmless(what="ROLLBACK TO SAVEPOINT")]
    if verb == "COMMIT" and cur.word(1) == "PREPARED":
        return [a.Harmless(what="COMMIT PREPARED")]
    return [a.EndTransaction(verb="ROLLBACK" if verb in ("ROLLBACK", "ABORT") else "COMMIT")]


def _dynamic(cur: Cursor) -> list[a.Action]:
    what = {"EXECUTE": "EXECUTE", "CALL": "CALL of a procedure"}
    return [a.Dynamic(what=what.get(cur.word(), cur.word()))]


def _do(cur: Cursor, read_nested: NestedReader) -> list[a.Action]:
    from expandctl.lint.do_block import is_catalog_check, read_do_block

    if is_catalog_check(cur.toks):
        return [a.Dynamic(what="a DO block", catalog_check=True)]
    # a plpgsql body is read: its static statements are linted like top-level ones
    inside = read_do_block(cur.toks, read_nested)
    return inside if inside is not None else [a.Dynamic(what="a DO block")]


def _prepare(cur: Cursor) -> list[a.Action]:
    if cur.at("PREPARE", "TRANSACTION"):
        return [a.Harmless(what="PREPARE TRANSACTION")]
    return [a.Dynamic(what="PREPARE")]


# --- CREATE -----------------------------------------------------------------


def _create(cur: Cursor) -> list[a.Action] | None:
    cur.accept("CREATE")
    cur.accept("OR", "REPLACE")
    unique = cur.accept("UNIQUE")
    while cur.word() in ("TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL"):
        cur.i += 1
    if cur.accept("INDEX"):
        return [_create_index(cur, unique)]
    if cur.accept("TABLE"):
        return [_create_table(cur)]
    for kind in _CREATE_KINDS:
        if cur.accept(*kind):
            cur.skip_optional(("IF", "NOT", "EXISTS"))
            name = cur.name()
            table = None
            if kind[-1] in ("TRIGGER", "POLICY", "RULE"):  # ... ON table: it locks that table
                words = [t.word for t in cur.toks]
                if "ON" in words[cur.i :]:
                    table = _Cursor(cur.toks, words.index("ON", cur.i) + 1).name() or None
            return [a.CreateObject(kind=" ".join(kind).lower(), name=name, table=table)]
    return None


def _create_index(cur: Cursor, unique: bool) -> a.Action:
    concurrently = cur.accept("CONCURRENTLY")
    cur.skip_optional(("IF", "NOT", "EXISTS"))
    name = "" if cur.at("ON") else cur.name()
    cur.accept("ON")
    cur.accept("ONLY")
    table = cur.name()
    if cur.accept("USING"):
        cur.i += 1
    columns = ""
    if (tok := cur.peek()) is not None and tok.text == "(":
        inner, _ = inner_group(cur.toks, cur.i)
        columns = render(inner)
    return a.CreateIndex(
        table=table, name=name, concurrently=concurrently, unique=unique, columns_text=columns
    )


def _create_table(cur: Cursor) -> a.Action:
    cur.skip_optional(("IF", "NOT", "EXISTS"))
    table = cur.name()
    tok = cur.peek()
    as_query = _has_top_level_as(cur.rest())
    if tok is None or tok.text != "(":
        parent = _Cursor(cur.toks, cur.i + 2).name() if cur.at("PARTITION", "OF") else ""
        return a.CreateTable(table=table, links=(parent,) if parent else (), as_query=as_query)
    inner, after = inner_group(cur.toks, cur.i)
    columns: list[a.Column] = []
    primary_key: tuple[str, ...] = ()
    references = _referenced_tables(inner)
    links = references
    rest = _Cursor(cur.toks, after)
    if rest.accept("INHERITS"):
        parents, _ = inner_group(cur.toks, rest.i)
        links += tuple(_Cursor(part).name() for part in split_top_level(parents))
    for element in split_top_level(inner):
        head = element[0].word
        if head in _CONSTRAINT_STARTS or head == "LIKE":
            words = [t.word for t in element]
            if "PRIMARY" in words:
                at = words.index("PRIMARY")
                if at + 2 < len(element) and element[at + 2].text == "(":
                    cols, _ = inner_group(element, at + 2)
                    primary_key = tuple(t.name for t in cols if t.kind != PUNCT)
            continue
        columns.append(read_column(element))
    if not primary_key:
        primary_key = tuple(c.name for c in columns if c.primary_key)
    return a.CreateTable(
        table=table,
        columns=tuple(columns),
        primary_key_columns=primary_key,
        links=links,
        as_query=as_query,
        references=references,
    )


def _has_top_level_as(toks: list[Tok]) -> bool:
    """CREATE TABLE ... AS query: an AS outside parentheses (a column's AS IDENTITY is inside)."""
    depth = 0
    for tok in toks:
        if tok.kind == PUNCT:
            depth += (tok.text == "(") - (tok.text == ")")
        elif depth == 0 and tok.word == "AS":
            return True
    return False


def _referenced_tables(toks: list[Tok]) -> tuple[str, ...]:
    """The table named after each REFERENCES (a column's or a table constraint's)."""
    return tuple(
        name
        for at, tok in enumerate(toks)
        if tok.word == "REFERENCES" and (name := _Cursor(toks, at + 1).name())
    )


# --- DROP -------------------------------------------------------------------


def _drop(cur: Cursor) -> list[a.Action] | None:
    cur.accept("DROP")
    for kind in _OBJECT_KINDS:
        if cur.accept(*kind):
            break
    else:
        return None
    kind_name = " ".join(kind).lower()
    concurrently = cur.accept("CONCURRENTLY")
    cur.skip_optional(("IF", "EXISTS"))
    names: list[str] = []
    table: str | None = None
    for part in split_top_level(cur.rest()):
        sub = _Cursor(part)
        name = sub.name()
        sub.skip_group()  # a function's argument list
        if sub.accept("ON"):  # DROP TRIGGER / POLICY / RULE name ON table
            table = sub.name()
            name = f"{table}.{name}"
        if name:
            names.append(name)
    words = {t.word for t in cur.rest()}
    if kind_name in ("table", "foreign table") and names:
        table = names[0]
    return [
        a.DropObjects(
            table=table,
            kind=kind_name,
            names=tuple(names),
            cascade="CASCADE" in words,
            concurrently=concurrently,
        )
    ]


# --- ALTER ------------------------------------------------------------------


def _alter(cur: Cursor) -> list[a.Action] | None:
    cur.accept("ALTER")
    if cur.accept("TABLE") or cur.accept("FOREIGN", "TABLE"):
        return _alter_table(cur)
    if cur.accept("TYPE"):
        return _alter_type(cur)
    for kind in _OBJECT_KINDS:
        if cur.accept(*kind):
            return _alter_object(cur, " ".join(kind).lower())
    return None


def _alter_object(cur: Cursor, kind: str) -> list[a.Action] | None:
    """ALTER VIEW / FUNCTION / SEQUENCE / SCHEMA / INDEX / DOMAIN ...: renames and moves."""
    cur.skip_optional(("IF", "EXISTS"))
    name = cur.name()
    cur.skip_group()
    if kind in ("trigger", "policy", "rule") and cur.accept("ON"):
        name = f"{cur.name()}.{name}"
    if cur.accept("RENAME", "TO"):
        return [a.Rename(kind=kind, name=name, new_name=cur.name())]
    if cur.accept("RENAME"):
        cur.accept("COLUMN")
        old = cur.name()
        cur.accept("TO")
        return [a.Rename(kind="column", name=f"{name}.{old}", new_name=cur.name())]
    if cur.accept("SET", "SCHEMA"):
        return [a.SetSchema(kind=kind, name=name, schema=cur.name())]
    if kind == "index" and cur.accept("SET", "TABLESPACE"):
        return [a.Rewrite(how="SET TABLESPACE", table=name)]
    if kind == "domain" and cur.word() in ("ADD", "VALIDATE", "SET", "DROP"):
        return None  # constraint changes on a domain: leave it to the parser (unverifiable)
    return [a.Harmless(what=f"ALTER {kind.upper()}")]


def _alter_type(cur: Cursor) -> list[a.Action] | None:
    name = cur.name()
    if cur.accept("ADD", "VALUE"):
        cur.skip_optional(("IF", "NOT", "EXISTS"))
        tok = cur.peek()
        value = tok.text if tok is not None and tok.kind == STRING else ""
        return [a.EnumAddValue(type_name=name, value=value)]
    if cur.accept("RENAME", "VALUE"):
        tok = cur.peek()
        old = tok.text if tok is not None else ""
        new = cur.toks[-1].text
        return [a.Rename(kind="enum value", name=f"{name}.{old}", new_name=new)]
    if cur.accept("RENAME", "TO"):
        return [a.Rename(kind="type", name=name, new_name=cur.name())]
    if cur.accept("RENAME", "ATTRIBUTE"):
        old = cur.name()
        cur.accept("TO")
        return [a.Rename(kind="type attribute", name=f"{name}.{old}", new_name=cur.name())]
    if cur.accept("SET", "SCHEMA"):
        return [a.SetSchema(kind="type", name=name, schema=cur.name())]
    if cur.word() in ("OWNER", "ADD", "DROP", "ALTER", "SET"):
        return [a.Harmless(what="ALTER TYPE")]
    return None


def _alter_table(cur: Cursor) -> list[a.Action]:
    cur.skip_optional(("IF", "EXISTS"))
    cur.accept("ONLY")
    table = cur.name()
    if (tok := cur.peek()) is not None and tok.text == "*":
        cur.i += 1
    if cur.accept("RENAME", "TO"):
        return [a.Rename(table=table, kind="table", name=table, new_name=cur.name())]
    if cur.accept("RENAME", "CONSTRAINT"):
        return [a.OtherAlterTable(table=table, clause="RENAME CONSTRAINT")]
    if cur.accept("RENAME"):
        cur.accept("COLUMN")
        old = cur.name()
        cur.accept("TO")
        new = cur.name()
        return [a.Rename(table=table, kind="column", name=f"{table}.{old}", new_name=new)]
    if cur.accept("SET", "SCHEMA"):
        return [a.SetSchema(table=table, kind="table", name=table, schema=cur.name())]
    if cur.word() in ("ATTACH", "DETACH"):
        how = cur.word().lower()
        words = {t.word for t in cur.rest()}
        cur.i += 1
        partition = cur.name() if cur.accept("PARTITION") else ""
        return [
            a.Partition(
                table=table, how=how, concurrently="CONCURRENTLY" in words, partition=partition
            )
        ]
    return [_alter_table_clause(table, part) for part in split_top_level(cur.rest())]


def _alter_table_clause(table: str, toks: list[Tok]) -> a.Action:
    cur = _Cursor(toks)
    if cur.accept("ADD"):
        if cur.word() in _CONSTRAINT_STARTS:
            return _add_constraint(table, cur)
        cur.accept("COLUMN")
        cur.skip_optional(("IF", "NOT", "EXISTS"))
        return a.AddColumn(table=table, column=read_column(cur.rest()))
    if cur.accept("DROP"):
        if cur.accept("CONSTRAINT"):
            cur.skip_optional(("IF", "EXISTS"))
            name = cur.name()
            return a.DropConstraint(table=table, name=name, cascade=cur.accept("CASCADE"))
        cur.accept("COLUMN")
        cur.skip_optional(("IF", "EXISTS"))
        column = cur.name()
        return a.DropColumn(table=table, column=column, cascade=cur.accept("CASCADE"))
    if cur.accept("ALTER"):
        if cur.accept("CONSTRAINT"):
            return a.OtherAlterTable(table=table, clause="ALTER CONSTRAINT")
        cur.accept("COLUMN")
        return _alter_column(table, cur.name(), cur)
    if cur.accept("VALIDATE", "CONSTRAINT"):
        return a.ValidateConstraint(table=table, name=cur.name())
    if cur.accept("SET"):
        if cur.word() == "TABLESPACE":
            return a.Rewrite(table=table, how="SET TABLESPACE")
        if cur.word() in ("LOGGED", "UNLOGGED"):
            return a.Rewrite(table=table, how=f"SET {cur.word()}")
        if cur.at("ACCESS", "METHOD"):
            return a.Rewrite(table=table, how="SET ACCESS METHOD")
        return a.OtherAlterTable(table=table, clause="SET " + cur.word())
    if cur.word() in _ALTER_TABLE_HARMLESS:
        return a.OtherAlterTable(table=table, clause=cur.word())
    return a.Unknown(table=table, reason=f"ALTER TABLE clause {render(toks)[:40]!r}")


def _alter_column(table: str, column: str, cur: Cursor) -> a.Action:
    if cur.accept("SET", "DATA", "TYPE") or cur.accept("TYPE"):
        rest = cur.rest()
        words = [t.word for t in rest]
        end = min((words.index(w) for w in ("USING", "COLLATE") if w in words), default=len(rest))
        type_toks = rest[:end]
        return a.AlterColumnType(
            table=table,
            column=column,
            type_text=render(type_toks),
            type_words=tuple(t.word for t in type_toks if t.kind == WORD),
            type_has_length=any(t.kind == PUNCT and t.text == "(" for t in type_toks),
            using="USING" in words,
        )
    if cur.accept("SET", "NOT", "NULL"):
        return a.SetNotNull(table=table, column=column)
    if cur.accept("DROP", "NOT", "NULL"):
        return a.DropNotNull(table=table, column=column)
    if cur.accept("DROP", "DEFAULT"):
        return a.DropDefault(table=table, column=column)
    if cur.word() in ("SET", "DROP", "ADD", "RESET", "OPTIONS"):
        return a.OtherAlterTable(table=table, clause=f"ALTER COLUMN {column} {cur.word()}")
    return a.Unknown(table=table, reason=f"ALTER COLUMN {column} {render(cur.rest())[:40]!r}")


def _add_constraint(table: str, cur: Cursor) -> a.Action:
    name = ""
    if cur.accept("CONSTRAINT"):
        name = cur.name()
    body = cur.rest()
    words = [t.word for t in body]
    kind = {
        "PRIMARY": "primary key", "UNIQUE": "unique", "CHECK": "check",
        "FOREIGN": "foreign key", "EXCLUDE": "exclude",
    }.get(words[0] if words else "", "constraint")  # fmt: skip
    using_index = None
    if "USING" in words and words.index("USING") + 1 < len(words):
        at = words.index("USING")
        if words[at + 1] == "INDEX" and at + 2 < len(body):
            using_index = body[at + 2].name
    not_null_column = None
    if kind == "check" and len(body) > 1 and body[1].text == "(":
        inner, _ = inner_group(body, 1)
        core = [t for t in inner if not (t.kind == PUNCT and t.text in "()")]
        if len(core) == 4 and [t.word for t in core[1:]] == ["IS", "NOT", "NULL"]:
            not_null_column = core[0].name
    references = _referenced_tables(body) if kind == "foreign key" else ()
    return a.AddConstraint(
        table=table,
        name=name,
        kind=kind,
        not_valid=words[-2:] == ["NOT", "VALID"],
        using_index=using_index,
        definition=render(body),
        not_null_column=not_null_column,
        references=references[0] if references else None,
    )


# --- tables as a whole ------------------------------------------------------


def _truncate(cur: Cursor) -> list[a.Action]:
    cur.accept("TRUNCATE")
    cur.accept("TABLE")
    names: list[str] = []
    for part in split_top_level(cur.rest()):
        sub = _Cursor(part)
        sub.accept("ONLY")
        if name := sub.name():
            names.append(name)
    words = {t.word for t in cur.rest()}
    return [
        a.Truncate(
            table=names[0] if names else None, tables=tuple(names), cascade="CASCADE" in words
        )
    ]


def _vacuum(cur: Cursor) -> list[a.Action]:
    cur.accept("VACUUM")
    options = {t.word for t in cur.rest()[:12]}
    if "FULL" in options:
        while cur.word() in ("FULL", "FREEZE", "VERBOSE", "ANALYZE", "ANALYSE"):
            cur.i += 1
        cur.skip_group()
        table = cur.name() or None
        return [a.Rewrite(table=table, how="VACUUM FULL")]
    return [a.Harmless(what="VACUUM")]


def _cluster(cur: Cursor) -> list[a.Action]:
    cur.accept("CLUSTER")
    cur.accept("VERBOSE")
    cur.skip_group()
    return [a.Rewrite(table=cur.name() or None, how="CLUSTER")]


def _reindex(cur: Cursor) -> list[a.Action]:
    cur.accept("REINDEX")
    cur.skip_group()
    target = cur.word().lower()
    cur.i += 1
    concurrently = cur.accept("CONCURRENTLY")
    name = cur.name()
    table = name if target == "table" else None
    return [a.Reindex(table=table, target=f"{target} {name}".strip(), concurrently=concurrently)]


def _lock(cur: Cursor) -> list[a.Action]:
    cur.accept("LOCK")
    cur.accept("TABLE")
    rest = cur.rest()
    words = [t.word for t in rest]
    end = words.index("IN") if "IN" in words else len(rest)
    names = []
    for part in split_top_level(rest[:end]):
        sub = _Cursor(part)
        sub.accept("ONLY")
        if name := sub.name():
            names.append(name)
    mode = "ACCESS EXCLUSIVE"
    if "IN" in words and "MODE" in words:
        mode = " ".join(words[words.index("IN") + 1 : words.index("MODE")])
    return [a.LockTable(table=names[0] if names else None, tables=tuple(names), mode=mode)]


def _revoke(cur: Cursor) -> list[a.Action]:
    return [a.Revoke(text=render(cur.toks)[:80])]


_HANDLERS = {
    "BEGIN": _begin,
    "START": _start,
    "COMMIT": _end,
    "END": _end,
    "ROLLBACK": _end,
    "ABORT": _end,
    "EXECUTE": _dynamic,
    "CALL": _dynamic,
    "PREPARE": _prepare,
    "CREATE": _create,
    "DROP": _drop,
    "ALTER": _alter,
    "TRUNCATE": _truncate,
    "VACUUM": _vacuum,
    "CLUSTER": _cluster,
    "REINDEX": _reindex,
    "LOCK": _lock,
    "REVOKE": _revoke,
}
