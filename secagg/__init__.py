"""secagg: secure aggregation for federated learning, with a fast C++ core."""

from __future__ import annotations

from . import errors
from .aggregator import AggregationResult, Aggregator, Stage, available_aggregators, create_aggregator
from .aggregator_process import AggregatorProcess
from .client_pool import ClientPool
from .masking import quantize_and_mask, sum_masked, unmask
from .prg import prg_backend, prg_expand
from .quantize import dequantize, quantize
from .simulate import simulate

__version__ = "0.1.0"

__all__ = [
    "AggregationResult",
    "Aggregator",
    "AggregatorProcess",
    "ClientPool",
    "Stage",
    "__version__",
    "available_aggregators",
    "create_aggregator",
    "dequantize",
    "errors",
    "prg_backend",
    "prg_expand",
    "quantize",
    "quantize_and_mask",
    "simulate",
    "sum_masked",
    "unmask",
]
