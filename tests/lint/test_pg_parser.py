"""PostgreSQL's parser loaded without pglast's tree modules (lint/pg_parser.py).

Each check runs in a fresh interpreter: what is imported, and in which order,
is the point. The lint path must not load ``pglast.ast`` or ``pglast.enums``,
and any other code in the same process must still find pglast whole, however
it first reaches for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.lint.test_startup import _modules

# Every use prints one JSON object: what other code would see of pglast.
AFTER_THE_LINT_PATH = """
import json, sys
from expandctl.lint import pg_parser
tree_loaded = sorted(m for m in sys.modules if m.startswith(("pglast.ast", "pglast.enums")))
{first_touch}
import pglast
from pglast.ast import SelectStmt
from pglast.enums import ConstrType
stmt = pglast.parse_sql("SELECT a FROM b WHERE c = 1")[0].stmt
print(json.dumps({{
    "tree_loaded_by_lint_path": tree_loaded,
    "version": pglast.__version__,
    "tree": type(stmt) is SelectStmt,
    "pretty": pglast.prettify("select a from b where c=1"),
    "enum": ConstrType.CONSTR_FOREIGN.name,
    "enums_is_real": pglast.enums is sys.modules["pglast.enums"]
        and hasattr(pglast.enums, "ConstrType"),
    "same_parser": pglast.parser.scan is pg_parser.scan,
    "same_error": pg_parser.ParseError is pglast.parser.ParseError
        and issubclass(pg_parser.ParseError, pglast.Error),
    # what the plain import leaves behind: the extension's own tree modules,
    # the package's submodule attributes, no finder of ours left
    "as_plain": [
        pglast.parser.ast is sys.modules["pglast.ast"],
        pglast.parser.enums is sys.modules["pglast.enums"],
        pglast.ast is sys.modules["pglast.ast"],
        pglast.parser is sys.modules["pglast.parser"],
        pglast.error is sys.modules["pglast.error"],
        not any("pg_parser" in type(f).__module__ for f in sys.meta_path),
    ],
}}))
"""


def _run(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_cold_lint_loads_the_parser_but_not_pglasts_tree(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "one.sql").write_text(
        "ALTER TABLE users ADD COLUMN c text;\nALTER TABEL users DROP COLUMN c;\n",
        encoding="utf-8",
    )
    code, modules = _modules(tmp_path, project, "lint", "--no-cache", "one.sql")
    assert code == 1  # the syntax error was found: PostgreSQL's parser ran
    assert "pglast.parser" in modules
    assert sorted(m for m in modules if m.startswith(("pglast.ast", "pglast.enums"))) == []


@pytest.mark.parametrize(
    "first_touch",
    [
        "import pglast; pglast.parse_sql('SELECT 1')",  # the package's own functions
        "import pglast; pglast.__version__",
        "from pglast.enums import ConstrType",  # a tree module imported directly
        "import pglast.ast",
        "from pglast import enums; enums.ConstrType",  # the stand-in the extension holds
        "pg_parser.split('SELECT 1; SELECT 2', with_parser=True)",  # only what lint uses
        # a tree from the extension alone, through its stand-ins for ast and enums
        "sys.modules['pglast.parser'].parse_sql('SELECT 1')",
    ],
)
def test_pglast_is_whole_for_other_code_after_the_lint_path(first_touch: str) -> None:
    seen = _run(AFTER_THE_LINT_PATH.format(first_touch=first_touch))
    assert seen == {
        "tree_loaded_by_lint_path": [],
        "version": seen["version"],
        "tree": True,
        "pretty": "SELECT a\nFROM b\nWHERE c = 1",
        "enum": "CONSTR_FOREIGN",
        "enums_is_real": True,
        "same_parser": True,
        "same_error": True,
        "as_plain": [True] * 6,
    }
    assert str(seen["version"]).startswith("v")


def test_pglast_imported_first_is_used_as_it_is() -> None:
    seen = _run(
        "import json, sys, pglast\n"
        "from expandctl.lint import pg_parser\n"
        "print(json.dumps({'enums': 'pglast.enums' in sys.modules,"
        " 'same': pg_parser.scan is pglast.parser.scan,"
        " 'scan': [t.name for t in pg_parser.scan('SELECT 1')]}))\n"
    )
    assert seen == {"enums": True, "same": True, "scan": ["SELECT", "ICONST"]}


def test_threads_that_reach_for_pglast_at_once_all_find_it_whole() -> None:
    seen = _run(
        "import json, threading\n"
        "from expandctl.lint import pg_parser\n"
        "start = threading.Barrier(8)\n"
        "found, failed = [], []\n"
        "def use():\n"
        "    start.wait()\n"
        "    try:\n"
        "        import pglast  # the first import, in eight threads at once\n"
        "        found.append(type(pglast.parse_sql('SELECT 1')[0].stmt).__name__)\n"
        "    except Exception as exc:\n"
        "        failed.append(repr(exc))\n"
        "threads = [threading.Thread(target=use) for _ in range(8)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "print(json.dumps({'found': sorted(set(found)), 'count': len(found),"
        " 'failed': failed}))\n"
    )
    assert seen == {"found": ["SelectStmt"], "count": 8, "failed": []}


def test_a_failed_first_import_of_pglast_can_be_tried_again() -> None:
    """An error while pglast's __init__ runs (here: its enums cannot be
    imported, once) is the importer's, and a second import works, as it would
    without the lint path."""
    seen = _run(
        "import importlib.abc, json, sys\n"
        "from expandctl.lint import pg_parser\n"
        "class FailOnce(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'pglast.enums':\n"
        "            sys.meta_path.remove(self)\n"
        "            raise ImportError('enums are not there this time')\n"
        "sys.meta_path.insert(0, FailOnce())\n"
        "try:\n"
        "    import pglast\n"
        "    first = 'imported'\n"
        "except ImportError as exc:\n"
        "    first = str(exc)\n"
        "import pglast\n"
        "print(json.dumps({'first': first,"
        " 'second': type(pglast.parse_sql('SELECT 1')[0].stmt).__name__,"
        " 'tree': pglast.parser.ast is sys.modules['pglast.ast']}))\n"
    )
    assert seen == {"first": "enums are not there this time", "second": "SelectStmt", "tree": True}
