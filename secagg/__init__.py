"""secagg: secure aggregation for federated learning, with a fast C++ core.

The package is built in floors, each importing only from the floors below it (checked by
``tests/test_layers.py``)::

    cli
    net, flower         gRPC deployment; the drop-in Flower workflow and client mod
    rec                 federated recommender
    he, dp              TenSEAL aggregators; distributed differential privacy
    aggregators         the Aggregator interface, the registry, plain, secagg, secagg+
    sim                 simulated sessions: a server and its clients, in process or in Ray actors
    protocol            SecAgg / SecAgg+ client and server state machines, messages, parameters
    core                PRG, quantization, masking kernels, Shamir, crypto (over the native _core)
    errors, _validate   one exception hierarchy, one set of argument checks

Public names are imported on first use, so ``import secagg`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

if TYPE_CHECKING:  # what the lazy table below serves, for type checkers and IDEs
    from . import dp, errors, he, net, protocol, rec
    from .aggregators.base import AggregationResult, Aggregator
    from .aggregators.registry import available_aggregators, create_aggregator
    from .core import shamir
    from .core.masking import quantize_and_mask, sum_masked, unmask
    from .core.prg import prg_backend, prg_expand
    from .core.quantize import dequantize, quantize
    from .protocol.stage import Stage
    from .sim.backends.base import ClientBackend
    from .sim.backends.registry import make_backend
    from .sim.session import simulate

lazy_exports(globals(), {
    "AggregationResult": ".aggregators.base:AggregationResult",
    "Aggregator": ".aggregators.base:Aggregator",
    "ClientBackend": ".sim.backends.base:ClientBackend",
    "Stage": ".protocol.stage:Stage",
    "available_aggregators": ".aggregators.registry:available_aggregators",
    "create_aggregator": ".aggregators.registry:create_aggregator",
    "dequantize": ".core.quantize:dequantize",
    "make_backend": ".sim.backends.registry:make_backend",
    "prg_backend": ".core.prg:prg_backend",
    "prg_expand": ".core.prg:prg_expand",
    "quantize": ".core.quantize:quantize",
    "quantize_and_mask": ".core.masking:quantize_and_mask",
    "simulate": ".sim.session:simulate",
    "sum_masked": ".core.masking:sum_masked",
    "unmask": ".core.masking:unmask",
    # modules reachable as attributes, as the README uses them (secagg.shamir.split, secagg.dp...)
    "errors": ".errors",
    "shamir": ".core.shamir",
    "protocol": ".protocol",
    "dp": ".dp",
    "he": ".he",
    "rec": ".rec",
    "net": ".net",
}, eager=["__version__"])
