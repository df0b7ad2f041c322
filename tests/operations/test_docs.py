"""Every TOML example in docs/operations.md parses and validates; every operation is documented."""

from __future__ import annotations

import re
import tomllib

from expandctl.model.manifest import Manifest
from expandctl.model.ops.registry import OPERATION_NAMES
from tests.conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"```toml\n(.*?)```", re.S)


def test_every_toml_example_is_a_valid_operation() -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= len(OPERATION_NAMES) - 2
    seen: set[str] = set()
    for block in blocks:
        data = tomllib.loads(block)
        data.setdefault("description", "doc example")
        manifest = Manifest.model_validate(data)
        seen.update(str(getattr(op, "op", "")) for op in manifest.operations)
    assert seen == set(OPERATION_NAMES)


def test_every_operation_has_a_section() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in OPERATION_NAMES:
        assert re.search(rf"^### .*\b{name}\b", text, re.M), name
