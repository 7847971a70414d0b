"""Quantization: clip, scale and stochastically round float updates to integers, and back.

The exact rule (float64 arithmetic, this order, so any implementation reproduces it bit for bit)::

    x = clip(update[i], -c, c)                  c = clipping_range
    t = (x + c) * ((Q - 1) / (2 * c))           Q = quantization_range
    q = floor(t) + (w[i] < (t - floor(t)) * 2**32)
    q = min(q, Q - 1)

where ``w = prg_expand(rounding_seed, d)`` (32-bit words): element i rounds up iff
``u = w[i] / 2**32 < frac(t)``, which happens with probability ``frac(t)``, so rounding is
unbiased. Without a ``rounding_seed`` a fresh 32-byte seed is drawn from ``os.urandom``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .. import _core
from .._validate import check_float, check_int
from ..errors import ConfigError, DTypeError, InputError, ModulusError, ShapeError
from .prg import check_modulus, check_seed, check_threads

MAX_QUANTIZATION_RANGE = 2**53 + 1


def check_clipping(clipping_range: object) -> float:
    """A finite float > 0."""
    return check_float("clipping_range", clipping_range, lo=0.0, lo_open=True)


def check_scale(c: float, q: int) -> None:
    """2c and (Q-1)/(2c) must be finite, so every step of the rounding rule stays finite."""
    if not (math.isfinite(2.0 * c) and math.isfinite(float(q - 1) / (2.0 * c))):
        raise ConfigError(f"clipping_range {c} is too large or too small for quantization_range {q}")


def check_quantization(quantization_range: object) -> int:
    """An int in [2, 2**53 + 1] (so that every level is exact in float64)."""
    return check_int("quantization_range", quantization_range, lo=2, hi=MAX_QUANTIZATION_RANGE)


def check_update(update: object) -> np.ndarray:
    """A 1-D float32/float64 array (C-contiguous; copied only if it was not)."""
    arr = np.asarray(update)
    if arr.dtype not in (np.float32, np.float64):
        raise DTypeError(f"update has dtype {arr.dtype}; pass a float32 or float64 array")
    if arr.ndim != 1:
        raise ShapeError(f"update must be 1-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def rounding_seed_or_fresh(rounding_seed: bytes | None) -> bytes:
    """The given seed (validated), or 32 fresh bytes from the OS CSPRNG."""
    return os.urandom(32) if rounding_seed is None else check_seed(rounding_seed, "rounding_seed")


def quantize(update: np.ndarray, *, clipping_range: float, quantization_range: int,
             rounding_seed: bytes | None = None, threads: int | None = None) -> np.ndarray:
    """Quantize without masking: values in [0, Q-1]; uint32 if Q <= 2**32 else uint64."""
    arr = check_update(update)
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    check_scale(c, q)
    seed = rounding_seed_or_fresh(rounding_seed)
    return _core.quantize(arr, c, q, seed, check_threads(threads))


def as_residues(values: object, modulus_range: int, what: str) -> np.ndarray:
    """An integer array with every element in [0, modulus_range), in the working dtype.

    Floats and bools are refused (never cast). Arrays already in the working dtype are returned
    as they are (their range is checked by the kernel); others are range-checked, then converted.
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "ui":
        raise DTypeError(f"{what} has dtype {arr.dtype}; pass an unsigned integer array "
                         "(uint32 if modulus_range <= 2**32, else uint64)")
    target = np.dtype(np.uint32) if modulus_range <= 2**32 else np.dtype(np.uint64)
    if arr.dtype == target:
        return np.ascontiguousarray(arr)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= modulus_range:
            raise InputError(f"{what} has elements outside [0, modulus_range={modulus_range}); "
                             "reduce them mod modulus_range")
    return np.ascontiguousarray(arr.astype(target))


def dequantize(quantized_sum: np.ndarray, *, clipping_range: float, quantization_range: int,
               modulus_range: int, num_clients: int) -> np.ndarray:
    """Map the sum of ``num_clients`` quantized vectors back to the float64 sum of updates.

    Returns ``S * 2c / (Q-1) - num_clients * c``. Raises :class:`ModulusError` when
    ``num_clients * (Q-1) >= modulus_range`` (the sum could have wrapped).
    """
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    check_scale(c, q)
    r = check_modulus(modulus_range)
    n = check_int("num_clients", num_clients, lo=1)
    if n * (q - 1) >= r:
        raise ModulusError(f"num_clients * (quantization_range - 1) = {n * (q - 1)} >= "
                           f"modulus_range = {r}: the sum may wrap; raise modulus_range or lower "
                           "quantization_range")
    s = as_residues(quantized_sum, r, "quantized_sum")
    if s.ndim != 1:
        raise ShapeError(f"quantized_sum must be 1-D, got shape {s.shape}")
    if s.size and int(s.max()) >= r:
        raise InputError("quantized_sum has elements >= modulus_range")
    return s.astype(np.float64) * (2.0 * c / (q - 1)) - n * c
