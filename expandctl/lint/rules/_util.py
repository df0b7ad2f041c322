"""Small helpers shared by the rules: name display and compatibility exemptions."""

from __future__ import annotations

from collections.abc import Iterable

from expandctl.lint.actions import display
from expandctl.lint.context import LintContext
from expandctl.model.phases import Phase

__all__ = [
    "compat_exempt",
    "contract_note",
    "display",
    "existing_tables",
    "listed",
    "retire_fix",
    "still_used",
]


def listed(names: Iterable[str]) -> str:
    """``users, orders``: names for a message, without the implicit ``public.``."""
    return ", ".join(display(n) for n in names)


def existing_tables(ctx: LintContext, tables: Iterable[str]) -> list[str]:
    """The tables that existed before this migration: traffic queues on their locks."""
    return [t for t in tables if not ctx.is_new_table(t)]


def compat_exempt(ctx: LintContext, kind: str, name: str) -> bool:
    """Old code cannot be broken by touching this object.

    True for objects created in the same file (or by the forward file a
    rollback undoes), and in contract for objects the manifest retires.
    """
    return ctx.unknown_to_old_code(kind, name) or ctx.retired(kind, name)


def still_used(ctx: LintContext, kind: str, names: Iterable[str]) -> list[str]:
    """The dropped names (for display) that old code may still use: not ``compat_exempt``."""
    return [display(raw) for raw in names if not compat_exempt(ctx, kind, raw)]


def retire_fix(name: str, retires_entry: str) -> str:
    """The safe way to remove what old code uses: stop using it, then retire it in contract."""
    return (
        f"remove all uses of {name} from the code, then drop it in contract with "
        f"retires = [{toml_string(retires_entry)}] in migration.toml."
    )


def toml_string(text: str) -> str:
    """A TOML string for the manifest: literal quotes when the name holds double quotes."""
    return f"'{text}'" if '"' in text and "'" not in text else f'"{text}"'


def contract_note(ctx: LintContext, retires_entry: str) -> str:
    """Extra advice in contract, where only declared objects may go."""
    if ctx.phase is Phase.CONTRACT and not ctx.rollback:
        return (
            f" In contract, only objects declared in the manifest may be removed: add "
            f"{toml_string(retires_entry)} to retires in migration.toml if this is intended."
        )
    return ""
