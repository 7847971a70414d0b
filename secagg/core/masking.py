"""Masking: the fused client kernels (with and without DP noise) and the server's sum and unmask.

``quantize_and_mask`` computes, in one cache-blocked native pass::

    (quantize(update) + PRG(self_seed) + sum_j peer_signs[j] * PRG(peer_seeds[j])) mod modulus_range

The server adds the masked vectors with :func:`sum_masked` and removes what it reconstructed with
:func:`unmask`: the self masks of the surviving clients and, for each dropped client, the pairwise
masks survivors added with it (with the sign the *surviving* client used). Pairwise masks of two
survivors cancel on their own. All kernels release the GIL and may use several threads; the
result never depends on the thread count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._validate import check_float, check_int
from ..errors import ModulusError, PrivacyError, SeedError, ShapeError
from .prg import MAX_VECTOR_ELEMENTS, check_modulus, check_seed, check_threads
from .quantize import (
    as_residues,
    check_clipping,
    check_quantization,
    check_scale,
    check_update,
    rounding_seed_or_fresh,
)

MAX_NOISE_VARIANCE = 2.0**27
"""The largest Skellam variance the native sampler covers (per element, per client)."""


def check_signs(peer_signs: Sequence[int], count: int) -> list[int]:
    """One sign per peer seed, each exactly +1 or -1."""
    signs = list(peer_signs)
    if len(signs) != count:
        raise ShapeError(f"peer_seeds has {count} entries but peer_signs has {len(signs)}; "
                         "give one sign per peer seed")
    out = []
    for j, s in enumerate(signs):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s not in (1, -1):
            raise SeedError(f"peer_signs[{j}] is {s!r}; each sign must be the int +1 or -1")
        out.append(int(s))
    return out


def check_seeds(seeds: Sequence[bytes], what: str) -> list[bytes]:
    if isinstance(seeds, (bytes, bytearray, memoryview)):
        raise SeedError(f"{what} must be a sequence of 32-byte seeds, not a single bytes object")
    return [check_seed(s, f"{what}[{i}]") for i, s in enumerate(seeds)]


def _fused_arguments(update: np.ndarray, clipping_range: float, quantization_range: int,
                     modulus_range: int, self_seed: bytes | None, peer_seeds: Sequence[bytes],
                     peer_signs: Sequence[int], rounding_seed: bytes | None) -> tuple[Any, ...]:
    """The validated arguments both fused kernels take, in the native order (all checked
    before any work)."""
    arr = check_update(update)
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    check_scale(c, q)
    r = check_modulus(modulus_range)
    if q > r:
        raise ModulusError(f"quantization_range {q} exceeds modulus_range {r}; raise "
                           "modulus_range (it must also exceed num_clients * (quantization_range - 1))")
    seeds = check_seeds(peer_seeds, "peer_seeds")
    signs = check_signs(peer_signs, len(seeds))
    own = None if self_seed is None else check_seed(self_seed, "self_seed")
    return arr, c, q, r, own, seeds, signs, rounding_seed_or_fresh(rounding_seed)


def quantize_and_mask(update: np.ndarray, *, clipping_range: float, quantization_range: int,
                      modulus_range: int, self_seed: bytes | None, peer_seeds: Sequence[bytes],
                      peer_signs: Sequence[int], rounding_seed: bytes | None = None,
                      threads: int | None = None) -> np.ndarray:
    """Quantize ``update`` and add the self mask and the signed pairwise masks, mod R.

    Returns uint32 when ``modulus_range <= 2**32``, else uint64. ``self_seed=None`` means no
    self mask. ``rounding_seed=None`` draws a fresh seed from ``os.urandom``.
    """
    args = _fused_arguments(update, clipping_range, quantization_range, modulus_range, self_seed,
                            peer_seeds, peer_signs, rounding_seed)
    return _core.quantize_and_mask(*args, check_threads(threads))


def check_variance(variance: object, what: str = "noise_variance") -> float:
    """A Skellam variance the native sampler covers: a number in [0, 2**27]."""
    return check_float(what, variance, lo=0.0, hi=MAX_NOISE_VARIANCE, error=PrivacyError)


def skellam_sample_native(seed: bytes, n: int, variance: float, *, threads: int | None = None) -> np.ndarray:
    """``n`` Skellam(``variance``) int64 values; equal to ``secagg.dp.sample_skellam(seed, n, variance)``."""
    length = check_int("n", n, lo=0, hi=MAX_VECTOR_ELEMENTS, error=ShapeError)
    return _core.skellam_sample(check_seed(seed), check_variance(variance), length, check_threads(threads))


def quantize_and_mask_skellam(update: np.ndarray, *, clipping_range: float, quantization_range: int,
                              modulus_range: int, self_seed: bytes | None, peer_seeds: Sequence[bytes],
                              peer_signs: Sequence[int], noise_seed: bytes, noise_variance: float,
                              rounding_seed: bytes | None = None,
                              threads: int | None = None) -> np.ndarray:
    """:func:`quantize_and_mask` plus Skellam(``noise_variance``) noise added mod R to each
    quantized element before the masks, in the same cache-blocked pass
    (``(quantize(update) + noise + PRG(self_seed) + sum_j sign_j PRG(peer_j)) mod R``).

    The noise is bit-identical to ``secagg.dp.sample_skellam(noise_seed, d, noise_variance)``
    (the contract is in ``src_cpp/include/secagg/skellam.hpp``); ``noise_variance=0`` adds nothing.
    """
    args = _fused_arguments(update, clipping_range, quantization_range, modulus_range, self_seed,
                            peer_seeds, peer_signs, rounding_seed)
    noise_seed = check_seed(noise_seed, "noise_seed")
    return _core.quantize_and_mask_skellam(*args, noise_seed, check_variance(noise_variance),
                                           check_threads(threads))


def sum_masked(vectors: Sequence[np.ndarray] | np.ndarray, *, modulus_range: int,
               threads: int | None = None) -> np.ndarray:
    """Element-wise sum mod ``modulus_range`` of equal-length vectors (rows of a 2-D array)."""
    r = check_modulus(modulus_range)
    t = check_threads(threads)
    if isinstance(vectors, np.ndarray):
        if vectors.ndim != 2:
            raise ShapeError(f"vectors must be 2-D (one row per client), got shape {vectors.shape}")
        if vectors.shape[0] == 0:
            raise ShapeError("sum_masked needs at least one vector")
        return _core.sum_masked(as_residues(vectors, r, "vectors"), r, t)
    items = list(vectors)
    if not items:
        raise ShapeError("sum_masked needs at least one vector")
    arrays = [as_residues(v, r, f"vectors[{i}]") for i, v in enumerate(items)]
    for i, a in enumerate(arrays):
        if a.ndim != 1:
            raise ShapeError(f"vectors[{i}] must be 1-D, got shape {a.shape}")
        if a.shape != arrays[0].shape:
            raise ShapeError(f"vectors[{i}] has length {a.shape[0]}, vectors[0] has "
                             f"{arrays[0].shape[0]}; all vectors must have the same length")
    return _core.sum_masked(arrays, r, t)


def unmask(masked_sum: np.ndarray, *, modulus_range: int, self_seeds: Sequence[bytes],
           peer_seeds: Sequence[bytes], peer_signs: Sequence[int],
           threads: int | None = None) -> np.ndarray:
    """Remove reconstructed masks from a sum of masked vectors.

    Returns ``masked_sum - sum_i PRG(self_seeds[i]) - sum_j peer_signs[j] * PRG(peer_seeds[j])``
    mod ``modulus_range``, where ``peer_signs[j]`` is the sign the *surviving* client applied
    when it masked with ``peer_seeds[j]``, so exactly what was added is removed.
    """
    r = check_modulus(modulus_range)
    s = as_residues(masked_sum, r, "masked_sum")
    if s.ndim != 1:
        raise ShapeError(f"masked_sum must be 1-D, got shape {s.shape}")
    selfs = check_seeds(self_seeds, "self_seeds")
    seeds = check_seeds(peer_seeds, "peer_seeds")
    signs = check_signs(peer_signs, len(seeds))
    return _core.unmask(s, r, selfs, seeds, signs, check_threads(threads))
