"""docs/rules.md is generated from the rule docstrings and must not go stale."""

from __future__ import annotations

from expandctl.lint import RULES
from expandctl.lint.docs import parse_docstring, render_rules_markdown
from tests.conftest import PROJECT_ROOT


def test_rules_md_is_up_to_date() -> None:
    committed = (PROJECT_ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == render_rules_markdown(), (
        "docs/rules.md is stale: run 'python scripts/gen_rule_docs.py'"
    )


def test_every_rule_is_documented_with_all_sections() -> None:
    page = render_rules_markdown()
    for rule in RULES:
        doc = parse_docstring(rule)
        assert doc["summary"] and doc["lock"] and doc["safe"] and doc["bad"] and doc["good"]
        assert f"### {rule.id} {rule.name}" in page


def test_lint_docs_link_the_rules_page() -> None:
    lint_md = (PROJECT_ROOT / "docs" / "lint.md").read_text(encoding="utf-8")
    assert "rules.md" in lint_md
    for fmt in ("text", "json", "github", "sarif", "gitlab"):
        assert f"`{fmt}`" in lint_md


def test_pre_commit_hook_runs_the_gate_on_sql_files() -> None:
    import re

    import yaml

    hooks = yaml.safe_load((PROJECT_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = hooks
    assert hook["id"] == "expandctl-lint"
    assert hook["entry"] == "expandctl lint"
    assert re.search(hook["files"], "migrations/0001_x/contract.sql")
    assert re.search(hook["files"], "migrations/0001_x/migration.toml")
    assert not re.search(hook["files"], "pyproject.toml")
    assert hook["language"] == "python"


def test_the_json_example_in_lint_md_is_a_valid_report() -> None:
    import re

    from expandctl.lint import LintReport

    lint_md = (PROJECT_ROOT / "docs" / "lint.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(?P<body>.*?)```", lint_md, re.S)
    assert block is not None
    report = LintReport.model_validate_json(block.group("body"))
    assert report.schema_version == 1
    assert report.findings[0].rule_id == "C201"
