"""Where a simulated session's clients run: one :class:`~.base.ClientBackend` interface, two
implementations: ``inprocess`` (the default, no dependency) and ``ray`` (groups of clients in Ray
actors, locally or on a cluster). :func:`~.registry.make_backend` builds one by name."""

from __future__ import annotations

from ..._lazy import lazy_exports

lazy_exports(globals(), {
    "BACKENDS": ".registry:BACKENDS",
    "ClientBackend": ".base:ClientBackend",
    "ClientSpec": ".base:ClientSpec",
    "InProcessBackend": ".inprocess:InProcessBackend",
    "Outcome": ".base:Outcome",
    "RayBackend": ".ray_backend:RayBackend",
    "make_backend": ".registry:make_backend",
})
