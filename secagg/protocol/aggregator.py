"""``secagg`` and ``secagg+`` behind the common :class:`~secagg.aggregator.Aggregator` interface.

Each :meth:`aggregate` call runs one complete protocol session in process (real clients, real
server, real messages; see :func:`secagg.simulate.simulate`) and de-quantizes the exact modular sum.
``seconds`` reports ``client``: CPU seconds of all clients together, ``server``: wall seconds.
With ``workers > 1`` the clients run in that many worker processes (see :mod:`secagg.client_pool`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..aggregator import AggregationResult, Aggregator, DropoutSchedule, validate_updates
from ..client_pool import LazyPool
from ..errors import ConfigError
from ..quantize import check_clipping, check_quantization
from .params import check_fractions


class _ProtocolAggregator(Aggregator):
    protocol: str

    def __init__(self, *, clipping_range: float = 1.0, quantization_range: int = 2**16,
                 modulus_range: int | None = None, threat_model: str = "honest-but-curious",
                 corrupt_fraction: float = 0.05, dropout_fraction: float = 0.1,
                 num_neighbors: int | None = None, threshold: int | None = None,
                 workers: int = 1, **_ignored: Any) -> None:
        # Options meant for other aggregators (e.g. HE parameters) are accepted and ignored, so
        # one configuration can be handed to every aggregator.
        self.clipping_range = check_clipping(clipping_range)
        self.quantization_range = check_quantization(quantization_range)
        check_fractions(corrupt_fraction, dropout_fraction, threat_model)
        if modulus_range is not None and (isinstance(modulus_range, bool) or not isinstance(
                modulus_range, int) or modulus_range < 2 or modulus_range & (modulus_range - 1)):
            raise ConfigError(f"modulus_range must be a power of two (or None for the smallest "
                              f"that fits), got {modulus_range!r}")
        for name, v in (("num_neighbors", num_neighbors), ("threshold", threshold)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"{name} must be a positive int or None, got {v!r}")
        self.modulus_range = modulus_range
        self.threat_model = threat_model
        self.corrupt_fraction = float(corrupt_fraction)
        self.dropout_fraction = float(dropout_fraction)
        self.num_neighbors = num_neighbors
        self.threshold = threshold
        # workers > 1: the simulated clients run in that many worker processes, reused every round
        self._pool = LazyPool(workers)

    def error_bound(self, num_clients: int) -> float:
        """Largest per-coordinate error of a sum (stochastic rounding: < 1 level per client)."""
        return num_clients * 2 * self.clipping_range / (self.quantization_range - 1) + 1e-9

    def aggregate(self, updates: Mapping[int, np.ndarray], *, dropouts: DropoutSchedule | None = None,
                  round_index: int = 0) -> AggregationResult:
        from ..simulate import simulate  # imported late: simulate imports this package

        ids, matrix = validate_updates(updates)
        result = simulate({cid: matrix[i] for i, cid in enumerate(ids)}, protocol=self.protocol,
                          threat_model=self.threat_model, dropouts=dropouts,
                          clipping_range=self.clipping_range,
                          quantization_range=self.quantization_range,
                          modulus_range=self.modulus_range, corrupt_fraction=self.corrupt_fraction,
                          dropout_fraction=self.dropout_fraction, num_neighbors=self.num_neighbors,
                          threshold=self.threshold, pool=self._pool.get())
        assert result.total is not None
        return AggregationResult(total=result.total, included=result.included,
                                 bytes_sent=result.bytes_sent, bytes_received=result.bytes_received,
                                 seconds={"client": result.seconds["client_cpu"],
                                          "server": result.seconds["server"]})


    def close(self) -> None:
        """Stop the worker processes, if any (a later round starts new ones)."""
        self._pool.close()


class SecAggAggregator(_ProtocolAggregator):
    """SecAgg (Bonawitz et al. 2017): every client masks and shares with every other."""

    name = "secagg"
    protocol = "secagg"


class SecAggPlusAggregator(_ProtocolAggregator):
    """SecAgg+ (Bell et al. 2020): masks and shares only along a random Harary graph."""

    name = "secagg+"
    protocol = "secagg+"
