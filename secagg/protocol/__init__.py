"""SecAgg (Bonawitz et al. 2017) and SecAgg+ (Bell et al. 2020) as transport-agnostic state machines.

Rounds: R0 advertise keys -> R1 share keys -> R2 masked input -> [R3 consistency check, active
model only] -> R4 unmasking. :class:`SecAggServer` produces one request per client per round and
consumes the replies; :class:`SecAggClient` consumes a request and produces its reply. Messages are
msgpack (``messages``), masked vectors travel bit-packed (``packing``), who talks to whom is a
``graphs`` object chosen by the ``params`` finder, and :func:`secagg.simulate` runs a whole session
in process.
"""

from .client import SecAggClient
from .config import SessionConfig, default_modulus
from .params import GraphParameters, find_parameters
from .server import SecAggServer, ServerResult

__all__ = ["GraphParameters", "SecAggClient", "SecAggServer", "ServerResult", "SessionConfig",
           "default_modulus", "find_parameters"]
