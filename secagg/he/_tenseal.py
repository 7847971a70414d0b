"""The one place that imports TenSEAL, so a missing optional extra gives one clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import DependencyError

INSTALL_HINT = 'pip install "secagg[he]"'


def require_tenseal() -> ModuleType:
    """Return the ``tenseal`` module, or raise :class:`DependencyError` saying how to install it."""
    try:
        module = importlib.import_module("tenseal")
        importlib.import_module("tenseal.sealapi")  # SEAL's own API: noise budgets
        return module
    except ImportError as exc:
        raise DependencyError(
            f"the homomorphic-encryption aggregators need TenSEAL, which is not installed "
            f"({exc}); install it with: {INSTALL_HINT}"
        ) from exc
