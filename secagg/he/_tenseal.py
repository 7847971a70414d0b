"""The one place that imports TenSEAL, so a missing optional extra gives one clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import DependencyError, HEError

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


def load_public_context(public_context: bytes, *, n_threads: int | None, role: str) -> object:
    """Load a serialized TenSEAL context for ``role`` ("client", "server"); refuse a secret key."""
    ts = require_tenseal()
    try:
        context = ts.context_from(bytes(public_context), n_threads=n_threads)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise HEError(f"public context bytes do not load: {exc}") from None
    if context.has_secret_key():
        raise HEError(f"{role} must receive the public context, never the secret key")
    return context
