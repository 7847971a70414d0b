"""Simulated sessions: a real :class:`~secagg.protocol.server.SecAggServer` and its clients, with
every message a network would carry. :func:`simulate` runs one on known inputs; :func:`make_session`
builds one before the inputs exist (``session``: key agreement first, inputs later). The clients
run where a client backend puts them (``backends``: in process, or in Ray actors)."""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "BACKENDS": ".backends.registry:BACKENDS",
    "ClientBackend": ".backends.base:ClientBackend",
    "InProcessBackend": ".backends.inprocess:InProcessBackend",
    "RayBackend": ".backends.ray_backend:RayBackend",
    "SimulatedSession": ".session:SimulatedSession",
    "SimulationResult": ".session:SimulationResult",
    "Tamper": ".session:Tamper",
    "make_backend": ".backends.registry:make_backend",
    "make_session": ".session:make_session",
    "simulate": ".session:simulate",
})
