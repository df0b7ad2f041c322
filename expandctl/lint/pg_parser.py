"""PostgreSQL's scanner and parser (libpg_query, via ``pglast.parser``), loaded
without pglast's tree modules.

The linter asks libpg_query to scan and to split, never for a tree. Imported
the usual way, ``pglast.parser`` first runs pglast's package ``__init__`` (all
its enums) and then imports ``pglast.ast`` itself: about 30 ms of the 0.13 s an
``expandctl lint one.sql`` takes, for modules the lint path never touches.

So the extension is loaded alone: under a bare ``pglast`` package module (its
``__init__`` not run) holding what the extension's own imports ask for
(``Error``, and stand-ins for ``ast`` and ``enums``), which is then taken out
of ``sys.modules`` again. When other code imports pglast later, the import
system runs pglast's real ``__init__`` as always (it reuses the loaded
extension), and a finder left for that one import then leaves everything as
the plain import would have: the extension's ``ast`` and ``enums`` the real
modules, ``pglast.parser`` and ``pglast.error`` attributes of the package.
Until then, the stand-ins forward any use to the real modules by importing
them. A pglast laid out otherwise than expected takes the plain import.

One window is not covered: a thread importing pglast for the first time
while another runs this module's load may get the bare package.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.abc imports importlib.resources: 10 ms, for two base classes
    from importlib.abc import Loader

_PACKAGE = "pglast"
_PREFIX = _PACKAGE + "."  # its submodules' names start so
_TREE_MODULES = ("ast", "enums")  # what the extension imports and the lint path never uses


class _StandIn(types.ModuleType):
    """The extension's ``ast`` or ``enums`` until pglast is imported for real:
    the first use imports the real module (pglast's ``__init__`` first)."""

    def __getattr__(self, attribute: str) -> object:
        return getattr(importlib.import_module(self.__name__), attribute)


class _ThenAsPlain:
    """pglast's own loader; then what a plain import would have left behind."""

    def __init__(self, loader: Loader, finder: _PackageFinder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)  # pglast's __init__: the extension is reused
        for name, loaded in list(sys.modules.items()):  # parser, error: loaded before it
            if name.startswith(_PREFIX) and "." not in name[len(_PREFIX) :]:
                module.__dict__.setdefault(name[len(_PREFIX) :], loaded)
        parser = sys.modules[_PREFIX + "parser"]
        for name in _TREE_MODULES:
            if isinstance(getattr(parser, name, None), _StandIn):
                setattr(parser, name, importlib.import_module(_PREFIX + name))
        self._finder.done()

    def __getattr__(self, name: str) -> object:  # resources and the like: pglast's loader
        return getattr(self._loader, name)


class _PackageFinder:
    """Finds pglast as the path finder does, with ``_ThenAsPlain`` as its loader;
    leaves ``sys.meta_path`` once pglast has been imported."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenAsPlain(spec.loader, self)  # type: ignore[assignment]
        return spec

    def done(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def _load_parser_alone() -> None:
    if _PACKAGE in sys.modules:
        return  # imported already (by other code): nothing left to save
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        return  # the plain import says what is wrong
    bare = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE] = bare
    try:
        bare.__dict__["Error"] = importlib.import_module(_PREFIX + "error").Error
        for name in _TREE_MODULES:
            bare.__dict__[name] = _StandIn(_PREFIX + name)
        importlib.import_module(_PREFIX + "parser")
    except BaseException as exc:
        # Another layout, or interrupted: forget all of it; the plain import follows.
        for name in [n for n in sys.modules if n == _PACKAGE or n.startswith(_PREFIX)]:
            del sys.modules[name]
        if not isinstance(exc, Exception):
            raise
        return
    del sys.modules[_PACKAGE]  # the real package is imported when asked for
    sys.meta_path.insert(0, _PackageFinder())


_load_parser_alone()

# Loaded above (or by the plain import, if that could not be done).
from pglast.parser import (  # noqa: E402
    ParseError,
    get_postgresql_version,
    scan,
    split,
)

__all__ = ["ParseError", "get_postgresql_version", "scan", "split"]
