"""Simulated sessions: a real :class:`~secagg.protocol.server.SecAggServer` and its clients, with
every message a network would carry. :func:`simulate` runs one on known inputs; :func:`make_session`
builds one before the inputs exist (``session``: key agreement first, inputs later). The clients
run in process or in worker processes (``client_pool``)."""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "ClientPool": ".client_pool:ClientPool",
    "SimulatedSession": ".session:SimulatedSession",
    "SimulationResult": ".session:SimulationResult",
    "Tamper": ".session:Tamper",
    "make_session": ".session:make_session",
    "simulate": ".session:simulate",
})
