"""docs/reliability.md names a test on every row, and every test it names exists."""

from __future__ import annotations

import ast
import re

from tests.conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "reliability.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _test_functions(path: str) -> set[str]:
    tree = ast.parse((PROJECT_ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_row_of_the_reliability_table_names_an_existing_test() -> None:
    rows = [
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and not line.startswith(("| scenario", "|---"))
    ]
    assert len(rows) >= 15
    for row in rows:
        references = REFERENCE.findall(row)
        assert references, f"a row names no test: {row[:80]}"
        for path, name in references:
            assert (PROJECT_ROOT / path).is_file(), f"{path} does not exist ({row[:60]})"
            assert name in _test_functions(path), f"{path} has no {name}"
