"""Is an UPDATE or DELETE bounded to a batch, or does it write the whole table?

A WHERE clause alone proves nothing: ``WHERE c IS NULL``, ``WHERE created_at <
now()`` or a join condition ``WHERE a.b_id = b.id`` may match every row. A
write counts as bounded only when its predicate limits it to a key range or a
small set of rows: ``col = <constant>``, ``col IN (<constants>)``, ``col =
ANY(<literal array>)``, ``col BETWEEN <constant> AND <constant>``, a lower and
an upper constant bound on one column, a one-sided constant bound on a key
(``id`` / ``*_id`` / ``ctid``), or a subquery with a LIMIT. Constants include
bind parameters (``:lo``, ``$1``, ``%(lo)s``), as batch loops write them.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from expandctl.lint.glot import DIALECT

_RANGE = (exp.LT, exp.LTE, exp.GT, exp.GTE)
_LOWER = {exp.GT: "lower", exp.GTE: "lower", exp.LT: "upper", exp.LTE: "upper"}
_FLIP = {"lower": "upper", "upper": "lower"}


def writes_bounded(sql: str) -> list[bool] | None:
    """For each UPDATE / DELETE in the statement (in ``tree.walk`` order): is it bounded?

    None when sqlglot cannot parse the text (the caller keeps its own answer).
    """
    try:
        tree = DIALECT.parse(sql)[0]
    except (ParseError, TokenError):
        return None
    if tree is None:
        return None
    return [
        bounded_where(node.args.get("where"))
        for node in tree.walk()
        if isinstance(node, exp.Update | exp.Delete)
    ]


def bounded_where(where: exp.Expr | None) -> bool:
    return isinstance(where, exp.Where) and _bounded(where.this)


def _bounded(node: exp.Expr) -> bool:
    node = _unparen(node)
    if isinstance(node, exp.And):
        return _bounded_conjunction(_conjuncts(node))
    if isinstance(node, exp.Or):
        return _bounded(node.left) and _bounded(node.right)
    return _bounded_conjunction([node])


def _bounded_conjunction(terms: list[exp.Expr]) -> bool:
    ranges: dict[str, set[str]] = {}
    for term in terms:
        if isinstance(term, exp.Or) and _bounded(term):
            return True
        if _small_set(term):
            return True
        side = _range_side(term)
        if side is None:
            continue
        column, which = side
        if _is_key(column):
            return True
        ranges.setdefault(column, set()).add(which)
    return any(len(sides) == 2 for sides in ranges.values())


def _small_set(term: exp.Expr) -> bool:
    """``col = c``, ``col IN (c, ...)``, ``IN (SELECT ... LIMIT n)``, ``= ANY(...)``, BETWEEN."""
    if isinstance(term, exp.EQ):
        left, right = _unparen(term.left), _unparen(term.right)
        for column, other in ((left, right), (right, left)):
            if isinstance(column, exp.Column) and (_constant(other) or _any_of_constants(other)):
                return True
        return False
    if isinstance(term, exp.In) and isinstance(_unparen(term.this), exp.Column):
        query = term.args.get("query")
        if query is not None:
            return _limited(query)
        values = term.expressions
        return bool(values) and all(_constant(v) for v in values)
    if isinstance(term, exp.Between):
        return (
            isinstance(_unparen(term.this), exp.Column)
            and _constant(term.args["low"])
            and _constant(term.args["high"])
        )
    return False


def _range_side(term: exp.Expr) -> tuple[str, str] | None:
    """``col < c`` -> (col, "upper"); ``c < col`` -> (col, "lower"); else None."""
    if not isinstance(term, _RANGE):
        return None
    which = _LOWER[type(term)]
    left, right = _unparen(term.left), _unparen(term.right)
    if isinstance(left, exp.Column) and _constant(right):
        return left.name.lower(), which
    if isinstance(right, exp.Column) and _constant(left):
        return right.name.lower(), _FLIP[which]
    return None


def _is_key(column: str) -> bool:
    return column in ("id", "ctid") or column.endswith("_id")


def _any_of_constants(node: exp.Expr) -> bool:
    """``ANY(ARRAY[1, 2])``, ``ANY($1)``, ``ANY(ARRAY(SELECT .. LIMIT n))``, a literal array."""
    if not isinstance(node, exp.Any):
        return False
    inner = _unparen(node.this)
    if isinstance(inner, exp.Array):
        values = inner.expressions
        if len(values) == 1 and isinstance(_unparen(values[0]), exp.Query):
            return _limited(values[0])
        return all(_constant(v) for v in values)
    if isinstance(inner, exp.Query | exp.Subquery):
        return _limited(inner)
    return _constant(inner)


def _limited(query: exp.Expr) -> bool:
    query = _unparen(query)
    if isinstance(query, exp.Subquery):
        query = query.this
    return isinstance(query, exp.Query) and query.args.get("limit") is not None


def _constant(node: exp.Expr) -> bool:
    node = _unparen(node)
    if isinstance(node, exp.Literal | exp.Placeholder | exp.Parameter | exp.Boolean):
        return True
    if isinstance(node, exp.Cast | exp.Neg):
        return _constant(node.this)
    if isinstance(node, exp.Array):
        return all(_constant(v) for v in node.expressions)
    return False


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    node = _unparen(node)
    if isinstance(node, exp.And):
        return [*_conjuncts(node.left), *_conjuncts(node.right)]
    return [node]


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node
