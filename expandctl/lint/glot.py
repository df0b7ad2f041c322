"""sqlglot, the analysis parser, for the statements that need a tree.

Import this module only where a tree is needed (DML, ``DO`` bodies, an
``INSERT ... SELECT``): importing sqlglot costs about 0.1 s and 20 MB, more
than linting a small file. DDL is read from PostgreSQL's own scanner's tokens
(``tokens``), so a file of DDL never loads sqlglot.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

# sqlglot logs a warning for every statement it keeps as an opaque Command;
# the linter reports those itself, so the log line would only be noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

DIALECT = Dialect.get_or_raise("postgres")
# What sqlglot raises on input it does not expect: its own errors, and for a
# few malformed inputs a plain Python error from inside the parser.
PARSER_FAILURES = (SqlglotError, RecursionError, TypeError, IndexError, ValueError, KeyError)


def parse_one(sql: str) -> Any:
    """The statement's tree (raises one of ``PARSER_FAILURES``); None when sqlglot
    reads nothing in it (it returns no tree for ``ELSE 1``)."""
    trees = DIALECT.parse(sql)
    return trees[0] if trees else None
