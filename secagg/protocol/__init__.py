"""SecAgg (Bonawitz et al. 2017) and SecAgg+ (Bell et al. 2020) as transport-agnostic state machines.

Rounds: R0 advertise keys -> R1 share keys -> R2 masked input -> [R3 consistency check, active
model only] -> R4 unmasking. :class:`SecAggServer` produces one request per client per round and
consumes the replies; :class:`SecAggClient` consumes a request and produces its reply. Messages are
msgpack (``messages``), masked vectors travel bit-packed (``packing``), who talks to whom is a
``graphs`` object chosen by the ``params`` finder, and :func:`secagg.simulate` runs a whole session
in process.
"""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "GraphParameters": ".params:GraphParameters",
    "SecAggClient": ".client:SecAggClient",
    "Stage": ".stage:Stage",
    "SecAggServer": ".server:SecAggServer",
    "ServerResult": ".server:ServerResult",
    "SessionConfig": ".config:SessionConfig",
    "default_modulus": ".config:default_modulus",
    "find_parameters": ".params:find_parameters",
})
