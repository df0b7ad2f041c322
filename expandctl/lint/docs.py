"""Render ``docs/rules.md`` from the rules' docstrings (the single source of truth).

``python scripts/gen_rule_docs.py`` writes the file; a test fails when the
committed file differs from what this module renders.
"""

from __future__ import annotations

import inspect
import re

from expandctl.lint.registry import RULES
from expandctl.lint.rule import DEFAULT_GROUPS, GROUPS, Rule
from expandctl.model.phases import PHASES

_SECTION = re.compile(r"^(Lock or breakage|Safe alternative|Bad|Good):\s*(.*)$")


def parse_docstring(rule: Rule) -> dict[str, str]:
    """``summary``, ``lock``, ``safe``, ``bad``, ``good`` from a rule's docstring."""
    text = inspect.cleandoc(rule.__doc__ or "")
    keys = {"Lock or breakage": "lock", "Safe alternative": "safe", "Bad": "bad", "Good": "good"}
    parts: dict[str, list[str]] = {"summary": []}
    current = "summary"
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            current = keys[match.group(1)]
            parts[current] = [match.group(2)] if match.group(2) else []
        else:
            parts.setdefault(current, []).append(line)
    out: dict[str, str] = {}
    for key, lines in parts.items():
        if key in ("bad", "good"):
            out[key] = inspect.cleandoc("\n".join(lines))
        else:
            out[key] = " ".join(" ".join(lines).split())
    return out


def _phases(rule: Rule) -> str:
    if rule.group == "compatibility":
        return "all phases; in contract, objects listed in `retires` are allowed"
    if set(rule.phases) == set(PHASES):
        return "all phases"
    return ", ".join(p.value for p in PHASES if p in rule.phases)


def render_rules_markdown() -> str:
    lines = [
        "# Lint rules",
        "",
        "<!-- Generated from the rule docstrings by scripts/gen_rule_docs.py; do not edit. -->",
        "",
        "Every rule has a stable id, a kebab-case name, a group and a default severity.",
        "Select, ignore or re-grade rules by id, name or group in `[tool.expandctl.lint]`",
        "(see [lint.md](lint.md)). Groups enabled by default: "
        + ", ".join(f"`{g}`" for g in GROUPS if g in DEFAULT_GROUPS)
        + "; `style` is opt-in.",
        "",
        "| id | name | group | severity |",
        "|---|---|---|---|",
    ]
    for rule in RULES:
        anchor = f"{rule.id.lower()}-{rule.name}"
        lines.append(f"| [{rule.id}](#{anchor}) | `{rule.name}` | {rule.group} | {rule.severity} |")
    for group, description in GROUPS.items():
        lines += ["", f"## {group}", "", f"_{description}._"]
        for rule in (r for r in RULES if r.group == group):
            doc = parse_docstring(rule)
            lines += [
                "",
                f"### {rule.id} {rule.name}",
                "",
                doc["summary"],
                "",
                f"- **Group:** {rule.group} · **Severity:** {rule.severity} · "
                f"**Phases:** {_phases(rule)}",
                f"- **Lock or breakage:** {doc.get('lock', '')}",
                f"- **Safe alternative:** {doc.get('safe', '')}",
                "",
                "Bad:",
                "",
                "```sql",
                doc.get("bad", ""),
                "```",
                "",
                "Good:",
                "",
                "```sql",
                doc.get("good", ""),
                "```",
            ]
    return "\n".join(lines) + "\n"
