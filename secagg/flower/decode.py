"""The float sum of the included clients' vectors from the protocol's sum mod R."""

from __future__ import annotations

import numpy as np

from ..core.quantize import dequantize
from ..protocol.config import SessionConfig
from .options import noise_margin


def decode_sum(quantized_sum: np.ndarray, num_clients: int, config: SessionConfig,
               noise_variance: float | None) -> np.ndarray:
    """The de-quantized float64 sum. With Skellam noise the integer sum may lie slightly below 0
    or above n (Q - 1); residues above n (Q - 1) + margin are read as negative (the workflow's
    modulus leaves room for both sides, see :meth:`WorkflowOptions.modulus_for`)."""
    c, q, r = config.clipping_range, config.quantization_range, config.modulus_range
    if noise_variance is None:
        return dequantize(quantized_sum, clipping_range=c, quantization_range=q, modulus_range=r,
                          num_clients=num_clients)
    top = num_clients * (q - 1) + noise_margin(num_clients, noise_variance)
    s = np.asarray(quantized_sum).astype(np.uint64)
    signed = np.where(s > np.uint64(top), s.astype(np.float64) - float(r), s.astype(np.float64))
    return signed * (2.0 * c / (q - 1)) - num_clients * c
