"""Counted nouns in messages: "1 step", "2 steps"."""

from __future__ import annotations


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun``, with the plural form unless ``count`` is exactly 1."""
    word = noun if count == 1 else (plural_form or noun + "s")
    return f"{count:,} {word}"
