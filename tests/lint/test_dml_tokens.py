"""The token reader of plain UPDATE / DELETE (``dml``) against sqlglot's tree.

``dml.read_write`` exists so that a file's DML need not load sqlglot; it must
never answer differently from the tree reader (``tree_actions``), which judged
these statements before. Every statement below is read by both: where the
token reader answers, the answers must be equal, unless sqlglot cannot parse
the statement at all (``x IS DISTINCT FROM :'v'``: a psql variable), where the
token reader's answer replaces an "unverifiable" warning; where it is unsure it
must say None (and sqlglot reads the statement, as before).
"""

from __future__ import annotations

import itertools
import random

import pytest

from expandctl.lint import actions as a
from expandctl.lint.dml import read_write
from expandctl.lint.source import read_actions
from expandctl.lint.tokens import tokenize
from expandctl.lint.tree_actions import read_tree

COLUMNS = ["id", "user_id", "ctid", "email", "created_at", "t.id", '"ID"', '"Email"',
           "x.email_norm", "s.t.batch", "status", "date", "user", "level", "key",
           "current_date"]  # fmt: skip
VALUES = ["5", "-5", "1.5", "'a'", "'it''s'", ":lo", "$1", "?", "true", "NULL", "now()",
          "4 + 1000", "'2024-01-01'::date", "5::bigint", "5::numeric(10, 2)", "5::int[]",
          "CAST(5 AS int)", "date '2024-01-01'", "interval '1 day'", "other.col", "lower(email)",
          "(SELECT 1)", "ARRAY[1, 2]", "E'x'", "+5", "%(lo)s", ":'v'", "$$a$$", "B'01'",
          "'a' || 'b'", "(5)", "- 5", "x::int", "N'x'", "'x'::text IS NOT TRUE",
          "$1::bigint IS NOT NULL", "5::int ISNULL", "'a'::text LIKE 'b'", "1::int AT TIME ZONE c",
          "'2024-01-01'::timestamp with time zone", "5::double precision"]  # fmt: skip
COMPARISONS = ["=", "<", "<=", ">", ">=", "<>", "!="]
HEADS = ["UPDATE t SET c = 1", "UPDATE s.t AS x SET c = lower(c) FROM u", "DELETE FROM t",
         'DELETE FROM "T" USING u', "UPDATE ONLY t SET c = 1", "UPDATE t x SET c = (SELECT 1)",
         "DELETE FROM t AS d", "UPDATE t SET (a, b) = (1, 2)"]  # fmt: skip


def _term(rng: random.Random) -> str:
    column, value, other = rng.choice(COLUMNS), rng.choice(VALUES), rng.choice(VALUES)
    forms = [
        f"{column} {rng.choice(COMPARISONS)} {value}",
        f"{value} {rng.choice(COMPARISONS)} {column}",
        f"{column} BETWEEN {value} AND {other}",
        f"{column} NOT BETWEEN {value} AND {other}",
        f"{column} IN ({value}, {other})",
        f"{column} IN ({value})",
        f"{column} NOT IN ({value}, {other})",
        f"{column} IN (SELECT id FROM q LIMIT 5)",
        f"{column} IN (SELECT id FROM q)",
        f"{column} = ANY(ARRAY[{value}, {other}])",
        f"{column} IS NULL",
        f"{column} IS NOT NULL",
        f"{column} IS DISTINCT FROM {value}",
        f"{column} LIKE 'a%'",
        f"NOT {column}",
        f"({column} = {value})",
        f"lower({column}) = {value}",
        f"EXISTS (SELECT 1 FROM q WHERE q.id = {column})",
        "true",
        f"{value} = {value}",
    ]
    return rng.choice(forms)


def _statements(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        head = rng.choice(HEADS)
        terms = [_term(rng) for _ in range(rng.choice([1, 1, 2, 2, 3]))]
        joiner = rng.choice([" AND ", " AND ", " AND ", " OR "])
        where = "" if rng.random() < 0.05 else " WHERE " + joiner.join(terms)
        tail = rng.choice(["", "", " RETURNING *", " RETURNING id"])
        out.append(f"{head}{where}{tail}")
    return out


def _fast(sql: str) -> a.WriteRows | None:
    toks = tokenize(sql)
    assert toks is not None
    return read_write(sql, toks)


def _answers(sql: str) -> tuple[a.WriteRows | None, list[a.Action]]:
    return _fast(sql), read_tree(sql, sql.split()[0].upper())


@pytest.mark.parametrize("seed", range(4))
def test_the_token_reader_agrees_with_sqlglot_wherever_it_answers(seed: int) -> None:
    answered = 0
    for sql in _statements(600, seed):
        fast, tree = _answers(sql)
        if fast is None:
            continue
        answered += 1
        if len(tree) == 1 and isinstance(tree[0], a.Unknown):
            continue  # sqlglot cannot read it; PostgreSQL's parser judges its syntax
        assert tree == [fast], sql
    assert answered >= 60  # many of them are read from tokens (else it saves nothing)


@pytest.mark.parametrize(
    ("sql", "bounded"),
    [
        ("UPDATE users SET email_norm = lower(email) WHERE email_norm IS NULL", False),
        ("UPDATE users SET a = 1 WHERE id BETWEEN :lo AND :hi", True),
        ("UPDATE users SET a = 1 WHERE id BETWEEN 4 AND 4 + 1000", False),
        ("DELETE FROM events WHERE created_at < now() - interval '30 days'", False),
        ("UPDATE a SET x = b.y FROM b WHERE a.b_id = b.id", False),
        ("UPDATE t SET c = 1 WHERE id >= $1 AND id < $2 RETURNING id", True),
        ("UPDATE t SET c = 1 WHERE created_at >= '2024-01-01' AND created_at < '2024-02-01'", True),
        ("DELETE FROM t WHERE account_id = 7", True),
        ("UPDATE t SET c = 1 WHERE status IN ('a', 'b')", True),
        ("UPDATE t SET c = 1 WHERE id = $1::bigint", True),
    ],
)
def test_common_migration_dml_is_read_from_tokens(sql: str, bounded: bool) -> None:
    fast, tree = _answers(sql)
    assert fast is not None, "this shape should not need sqlglot"
    assert fast.bounded is bounded
    assert tree == [fast]
    assert read_actions(sql) == [fast]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE t SET c = 1 WHERE id = 1 OR id = 2",
        "UPDATE t SET c = 1 WHERE (id = 1)",
        "UPDATE t SET c = 1 WHERE id IN (SELECT id FROM q LIMIT 10)",
        "UPDATE t SET c = 1 WHERE id = ANY(ARRAY[1, 2])",
        "UPDATE ONLY t SET c = 1 WHERE id = 1",
        "UPDATE t SET c = 1 WHERE CURRENT OF cur",
        "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING id) SELECT * FROM d",
    ],
)
def test_shapes_it_is_not_sure_of_go_to_sqlglot(sql: str) -> None:
    assert _fast(sql) is None


def test_heads_and_columns_cover_both_verbs() -> None:
    verbs = {head.split()[0] for head in HEADS}
    assert verbs == {"UPDATE", "DELETE"}
    assert len(set(itertools.chain(COLUMNS, VALUES))) == len(COLUMNS) + len(VALUES)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE users SET nickname = NULL WHERE status = 'x'::text IS NOT TRUE",
        "DELETE FROM users WHERE id = $1::bigint IS NOT NULL",
        "DELETE FROM users WHERE id BETWEEN 1::int AND 5::int IS NULL",
        "DELETE FROM users WHERE id IN (1, 2::int IS NULL)",
    ],
)
def test_a_cast_ends_at_its_type(sql: str) -> None:
    """``(id = $1::bigint) IS NOT NULL`` may match every row: not a bounded write."""
    fast = _fast(sql)
    assert fast is None or fast.bounded is False
    (action,) = read_actions(sql)
    assert isinstance(action, a.WriteRows) and action.bounded is False
