"""Read a column definition (``name type [constraints]``) from tokens."""

from __future__ import annotations

from expandctl.lint.actions import Column
from expandctl.lint.tokens import PUNCT, WORD, Cursor, Tok, inner_group, render

# Words that end the type and start a column constraint.
_CONSTRAINT_WORDS = frozenset(
    {
        "CONSTRAINT", "NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "CHECK", "REFERENCES",
        "GENERATED", "COLLATE", "DEFERRABLE", "INITIALLY", "COMPRESSION", "STORAGE",
    }
)  # fmt: skip
# Words that end a DEFAULT expression ("DEFAULT NULL" is an expression).
_EXPRESSION_ENDS = _CONSTRAINT_WORDS - {"NULL"}
_SERIAL_TYPES = frozenset({"SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"})

# Functions whose result does not change within a statement: a default made of
# them is evaluated once and stored in the catalog (PostgreSQL 11+), no rewrite.
STABLE_FUNCTIONS = frozenset(
    {
        "now", "transaction_timestamp", "statement_timestamp", "current_setting", "lower",
        "upper", "coalesce", "nullif", "concat", "length", "to_jsonb", "to_json",
        "jsonb_build_object", "jsonb_build_array", "json_build_object", "array", "make_interval",
        "make_date", "make_timestamp", "make_timestamptz", "date_trunc", "abs", "round",
        "greatest", "least", "replace", "substring", "trim", "btrim", "md5", "interval",
        "timezone", "to_timestamp", "to_char", "to_date", "jsonb", "cast", "current_date",
        "current_schema", "current_user", "session_user", "localtimestamp", "row",
    }
)  # fmt: skip


def read_column(toks: list[Tok]) -> Column:
    """``toks`` starts at the column name."""
    if not toks:
        return Column(name="")
    name = toks[0].name
    i = 1
    type_toks: list[Tok] = []
    depth = 0
    while i < len(toks):
        tok = toks[i]
        if depth == 0 and tok.kind == WORD and tok.word in _CONSTRAINT_WORDS:
            break
        if tok.kind == PUNCT and tok.text in "([":
            depth += 1
        elif tok.kind == PUNCT and tok.text in ")]":
            depth -= 1
        type_toks.append(tok)
        i += 1
    type_words = tuple(t.word for t in type_toks if t.kind == WORD)
    fields = _read_constraints(toks[i:])
    serial = bool(type_words) and type_words[0] in _SERIAL_TYPES
    return Column(
        name=name,
        type_text=render(type_toks),
        type_words=type_words,
        type_has_length=any(t.kind == PUNCT and t.text == "(" for t in type_toks),
        not_null=bool(fields["not_null"]) or bool(fields["primary_key"]) or serial,
        primary_key=bool(fields["primary_key"]),
        default=fields["default"] if isinstance(fields["default"], str) else None,
        default_volatile=bool(fields["volatile"]),
        identity=bool(fields["identity"]),
        serial=serial,
        generated_stored=bool(fields["stored"]),
        references=fields["references"] if isinstance(fields["references"], str) else None,
        unique=bool(fields["unique"]),
        check=bool(fields["check"]),
    )


def _read_constraints(toks: list[Tok]) -> dict[str, bool | str | None]:
    out: dict[str, bool | str | None] = {
        "not_null": False, "primary_key": False, "default": None, "volatile": False,
        "identity": False, "stored": False, "references": None, "unique": False, "check": False,
    }  # fmt: skip
    i = 0
    while i < len(toks):
        word = toks[i].word
        if word == "NOT" and i + 1 < len(toks) and toks[i + 1].word == "NULL":
            out["not_null"] = True
            i += 2
        elif word == "PRIMARY":
            out["primary_key"] = True
            i += 2
        elif word == "UNIQUE":
            out["unique"] = True
            i += 1
        elif word == "CHECK":
            out["check"] = True
            i += 1
        elif word == "REFERENCES":
            target = Cursor(toks, i + 1)
            out["references"] = target.name()
            i = target.i
        elif word == "DEFAULT":
            expr, i = _expression(toks, i + 1)
            out["default"] = render(expr)
            out["volatile"] = is_volatile(expr)
        elif word == "GENERATED":
            j = i + 1
            while j < len(toks) and toks[j].word != "AS":
                j += 1
            if j + 1 < len(toks) and toks[j + 1].word == "IDENTITY":
                out["identity"] = True
                i = j + 2
                if i < len(toks) and toks[i].text == "(":
                    _, i = inner_group(toks, i)
            elif j + 1 < len(toks) and toks[j + 1].text == "(":
                _, i = inner_group(toks, j + 1)
                # PostgreSQL 18 adds VIRTUAL (and makes it the default); only STORED rewrites.
                out["stored"] = i < len(toks) and toks[i].word == "STORED"
            else:
                i = j + 1
        elif i < len(toks) and toks[i].kind == PUNCT and toks[i].text == "(":
            _, i = inner_group(toks, i)
        else:
            i += 1
    return out


def _expression(toks: list[Tok], start: int) -> tuple[list[Tok], int]:
    """Tokens of an expression up to the next constraint keyword at depth 0."""
    depth = 0
    i = start
    while i < len(toks):
        tok = toks[i]
        if depth == 0 and tok.kind == WORD and tok.word in _EXPRESSION_ENDS:
            break
        if tok.kind == PUNCT and tok.text in "([":
            depth += 1
        elif tok.kind == PUNCT and tok.text in ")]":
            depth -= 1
        i += 1
    return toks[start:i], i


def is_volatile(expr: list[Tok]) -> bool:
    """True when the expression calls a function not known to be stable or immutable."""
    for k, tok in enumerate(expr[:-1]):
        nxt = expr[k + 1]
        is_call = tok.kind == WORD and nxt.kind == PUNCT and nxt.text == "("
        if is_call and tok.name not in STABLE_FUNCTIONS:
            return True
    return False
