"""PostgreSQL's scanner and parser (libpg_query, via ``pglast.parser``), loaded
without pglast's tree modules.

The linter asks libpg_query to scan and to split, never for a tree. Imported
the usual way, ``pglast.parser`` first runs pglast's package ``__init__`` (all
its enums) and then imports ``pglast.ast`` itself: about 30 ms of the 0.13 s an
``expandctl lint one.sql`` takes, for modules the lint path never touches. So
the extension is loaded under pglast's package module before that ``__init__``
has run, with stand-ins for ``ast`` and ``enums``. Anything that asks more of
pglast later (``pglast.parse_sql``, ``pglast.__version__``, an enum, a tree)
first runs the package's ``__init__``, as a plain import would have, so other
code in the same process sees pglast as usual. A pglast laid out otherwise
than expected takes the plain import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Callable

_PACKAGE = "pglast"
_TREE_MODULES = ("ast", "enums")  # what the extension imports and never uses here


class _StandIn(types.ModuleType):
    """A module the parser holds on to but the lint path never uses: the first
    attribute asked of it runs pglast's ``__init__`` and imports the real one."""

    def __init__(self, name: str, finish: Callable[[], None]) -> None:
        super().__init__(name)
        self._finish = finish

    def __getattr__(self, attribute: str) -> object:
        self._finish()
        return getattr(importlib.import_module(self.__name__), attribute)


def _load_without_tree() -> None:
    if _PACKAGE in sys.modules:
        return  # imported already (by other code, or here): nothing left to save
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # the plain import says what is wrong
    package = importlib.util.module_from_spec(spec)
    finished = False
    finishing = threading.RLock()  # another thread waits until __init__ has run

    def finish() -> None:
        """Run the package's own ``__init__`` in place, once."""
        nonlocal finished
        with finishing:
            if finished:
                return  # done, or running in this very thread (its own imports)
            finished = True
            for name in _TREE_MODULES:
                if isinstance(package.__dict__.get(name), _StandIn):
                    del package.__dict__[name]  # __init__ imports the real one
            assert spec is not None and spec.loader is not None
            spec.loader.exec_module(package)
            # Only now: until here, what __init__ has not defined yet leads the
            # other threads to finish(), where they wait for it.
            if package.__dict__.get("__getattr__") is package_attribute:
                del package.__dict__["__getattr__"]

    def package_attribute(name: str) -> object:  # PEP 562: only for what is missing
        finish()
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}") from None

    sys.modules[_PACKAGE] = package
    try:
        error = importlib.import_module(f"{_PACKAGE}.error")
        package.__dict__.update(
            Error=error.Error,  # the extension's ``from . import Error``
            __getattr__=package_attribute,
            **{name: _StandIn(f"{_PACKAGE}.{name}", finish) for name in _TREE_MODULES},
        )
        importlib.import_module(f"{_PACKAGE}.parser")
    except Exception:
        # Another layout: forget what was loaded here; the plain import follows.
        for name in [n for n in sys.modules if n == _PACKAGE or n.startswith(_PACKAGE + ".")]:
            del sys.modules[name]


_load_without_tree()

# Loaded above (or by the plain import, if that could not be done).
from pglast.parser import (  # noqa: E402
    ParseError,
    get_postgresql_version,
    scan,
    split,
)

__all__ = ["ParseError", "get_postgresql_version", "scan", "split"]
