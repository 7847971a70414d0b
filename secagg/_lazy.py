"""Lazy package attributes (PEP 562): a package's public names are imported on first use.

``import secagg`` (and every subpackage) then costs almost nothing, so a worker process that needs
one kernel does not pay for the protocol rounds, the recommender or SciPy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(namespace: dict[str, Any], exports: Mapping[str, str], *, eager: Sequence[str] = ()) -> None:
    """Give the package whose globals are ``namespace`` a ``__getattr__``, ``__dir__`` and
    ``__all__`` serving ``exports``: public name -> ``"module"`` (a submodule, relative names
    allowed) or ``"module:attribute"``; ``eager`` names public globals defined already. A resolved
    name is cached in the package's globals."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name, package)
        value = getattr(module, attribute) if attribute else module
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    getattr_hook: Callable[[str], Any] = __getattr__
    namespace["__getattr__"] = getattr_hook
    namespace["__dir__"] = __dir__
    namespace["__all__"] = sorted({*exports, *eager})
