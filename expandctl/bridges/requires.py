"""The optional extras a bridge needs, imported only when a bridge command runs."""

from __future__ import annotations

import importlib

from expandctl.errors import UsageError

EXTRAS = {"alembic": ("alembic", "sqlalchemy"), "django": ("django",)}


def require(extra: str) -> None:
    """Import the extra's packages, or say how to install them (exit 2, nothing done)."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UsageError(
                f"the {extra} bridge needs the Python package {module!r}, which is not installed",
                hint=f"pip install 'expandctl[{extra}]'",
            ) from exc
