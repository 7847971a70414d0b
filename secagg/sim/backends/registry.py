"""Backends by name: ``make_backend("ray", address="auto")``, options checked before any work."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from ..._validate import check_choice, check_options
from ...errors import ConfigError
from .base import ClientBackend

_REGISTRY = {
    "inprocess": "secagg.sim.backends.inprocess:InProcessBackend",
    "ray": "secagg.sim.backends.ray_backend:RayBackend",
}
BACKENDS = tuple(_REGISTRY)
"""The names :func:`make_backend` accepts."""


def backend_class(name: str) -> type[ClientBackend]:
    check_choice("backend", name, BACKENDS)
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def backend_options(name: str) -> list[str]:
    """The keyword options ``make_backend(name, ...)`` takes."""
    init = backend_class(name).__init__
    return [p.name for p in list(inspect.signature(init).parameters.values())[1:]
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def make_backend(backend: str | ClientBackend = "inprocess",
                 options: Mapping[str, Any] | None = None) -> tuple[ClientBackend, bool]:
    """(the backend, whether the caller now owns it and must close it).

    ``backend`` is a name from :data:`BACKENDS` (built with ``options``) or a
    :class:`ClientBackend` the caller keeps owning (then ``options`` must be empty). An unknown
    name or option is a :class:`~secagg.errors.ConfigError` naming the valid ones.
    """
    options = dict(options or {})
    if isinstance(backend, ClientBackend):
        if options:
            raise ConfigError("backend options go with a backend name; this backend is already built")
        return backend, False
    name = check_choice("backend", backend, BACKENDS)
    check_options(f"backend {name!r}", options, backend_options(name))
    return backend_class(name)(**options), True


def check_backend(backend: object, options: Mapping[str, Any] | None = None) -> None:
    """Refuse an unknown backend name or option now, without building (or starting) anything."""
    if isinstance(backend, ClientBackend):
        if options:
            raise ConfigError("backend options go with a backend name; this backend is already built")
        return
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(f"backend_options must be a mapping of option -> value, got {type(options).__name__}")
    name = check_choice("backend", backend, BACKENDS)
    check_options(f"backend {name!r}", dict(options or {}), backend_options(name))


class BackendHolder:
    """An aggregator's backend: checked now, built from its name on first use, reused every round,
    closed by :meth:`close` (a :class:`ClientBackend` given ready-built stays the caller's)."""

    def __init__(self, backend: str | ClientBackend = "inprocess",
                 options: Mapping[str, Any] | None = None) -> None:
        check_backend(backend, options)
        self._spec, self._options = backend, dict(options or {})
        self._backend: ClientBackend | None = backend if isinstance(backend, ClientBackend) else None
        self._owned = False

    @property
    def name(self) -> str:
        return self._spec.name if isinstance(self._spec, ClientBackend) else self._spec

    @property
    def remote(self) -> bool:
        """Whether the clients compute outside this process (their CPU is not in its clock)."""
        spec = self._spec
        return spec.remote if isinstance(spec, ClientBackend) else backend_class(spec).remote

    def get(self) -> ClientBackend:
        if self._backend is None:
            self._backend, self._owned = make_backend(self._spec, self._options)
        return self._backend

    def close(self) -> None:
        if self._owned and self._backend is not None:
            self._backend.close()
            self._backend, self._owned = None, False
