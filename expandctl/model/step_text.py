"""Short forms of a step for people: one line for a log, the DDL without function bodies.

``plan`` and ``advance`` show what a reviewer checks (the statement kind, the
object, the trigger and function names); the full text, function bodies
included, stays one ``-v`` away. Nothing here changes what runs.
"""

from __future__ import annotations

import re

from expandctl.model.steps import AnyStep, CheckStep, SqlStep

HEADLINE_WIDTH = 120
# A dollar quote opening a body: $$ or $tag$.
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def _without_comment_lines(sql: str) -> list[str]:
    return [
        line for line in sql.splitlines() if line.strip() and not line.lstrip().startswith("--")
    ]


def headline(sql: str) -> str:
    """The statement on one line: a function body becomes ``$tag$ … $tag$``; long text is cut."""
    text = " ".join(" ".join(_without_comment_lines(sql)).split())
    opened = _DOLLAR.search(text)
    if opened is not None:
        tag = opened.group(0)
        closing = text.find(tag, opened.end())
        if closing != -1:
            text = f"{text[: opened.end()]} … {text[closing:]}"
    if len(text) > HEADLINE_WIDTH:
        text = text[: HEADLINE_WIDTH - 1].rstrip() + "…"
    return text


def elide_bodies(sql: str) -> tuple[str, int]:
    """The statement with every multi-line dollar-quoted body replaced by one line.

    Returns the text and how many body lines were left out (0: nothing was).
    """
    lines = sql.splitlines()
    out: list[str] = []
    hidden = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        opened = _DOLLAR.search(line)
        if opened is None or line.find(opened.group(0), opened.end()) != -1:
            i += 1
            continue
        tag = opened.group(0)
        end = next((j for j in range(i + 1, len(lines)) if tag in lines[j]), None)
        if end is None or end == i + 1:
            i += 1
            continue
        body = end - i - 1
        hidden += body
        indent = line[: len(line) - len(line.lstrip())]
        out.append(f"{indent}  … {body} line{'s' if body != 1 else ''} of body (-v shows them)")
        out.append(lines[end])
        i = end + 1
    return "\n".join(out), hidden


def step_headline(step: AnyStep) -> str:
    """One line per step, for the run log: the SQL's headline, or what the step does."""
    if isinstance(step, SqlStep):
        return headline(step.sql)
    if isinstance(step, CheckStep):
        return f"catalog check (refuses if {step.message})"
    return step.summary


def step_full_text(step: AnyStep) -> str | None:
    """The whole SQL, when the headline leaves some of it out (for -v)."""
    if isinstance(step, SqlStep | CheckStep):
        full = step.sql.strip()
        return None if headline(full) == " ".join(full.split()) else full
    return None
