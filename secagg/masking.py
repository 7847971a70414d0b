"""Masking: the fused client kernel and the server's sum and unmask.

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

import numpy as np

from . import _core
from .errors import ModulusError, SeedError, ShapeError
from .prg import check_modulus, check_seed, check_threads
from .quantize import (as_residues, check_clipping, check_quantization, check_scale, check_update,
                       rounding_seed_or_fresh)


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


def quantize_and_mask(update: np.ndarray, *, clipping_range: float, quantization_range: int,
                      modulus_range: int, self_seed: bytes | None, peer_seeds: Sequence[bytes],
                      peer_signs: Sequence[int], rounding_seed: bytes | None = None,
                      threads: int | None = None) -> np.ndarray:
    """Quantize ``update`` and add the self mask and the signed pairwise masks, mod R.

    Returns uint32 when ``modulus_range <= 2**32``, else uint64. ``self_seed=None`` means no
    self mask. ``rounding_seed=None`` draws a fresh seed from ``os.urandom``.
    """
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
    rs = rounding_seed_or_fresh(rounding_seed)
    return _core.quantize_and_mask(arr, c, q, r, own, seeds, signs, rs, check_threads(threads))


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
