"""The fused native kernel with Skellam noise: quantize, add noise, mask, in one pass.

:func:`quantize_and_mask_skellam` is :func:`secagg.quantize_and_mask` plus ``noise_seed`` and
``noise_variance``: each quantized element gets Skellam(``noise_variance``) added mod R before
the masks, inside the same cache-blocked pass (``noise_variance=0`` adds nothing). The noise is
bit-identical to :func:`secagg.dp.sample_skellam` for the same seed (the contract is in
``src_cpp/include/secagg/skellam.hpp``); the native sampler covers variances up to 2**27.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import _core
from ..errors import ModulusError, PrivacyError
from ..masking import check_seeds, check_signs
from ..prg import check_modulus, check_seed, check_threads
from ..quantize import check_clipping, check_quantization, check_update, rounding_seed_or_fresh

MAX_NATIVE_VARIANCE = 2.0**27


def check_variance(variance: object) -> float:
    if isinstance(variance, bool) or not isinstance(variance, (int, float, np.integer, np.floating)):
        raise PrivacyError(f"noise_variance must be a number, got {type(variance).__name__}")
    v = float(variance)
    if not (math.isfinite(v) and 0.0 <= v <= MAX_NATIVE_VARIANCE):
        raise PrivacyError(f"noise_variance must be in [0, 2**27] for the native kernel, got {variance!r}")
    return v


def skellam_sample_native(seed: bytes, n: int, variance: float, *, threads: int | None = None) -> np.ndarray:
    """``n`` Skellam(``variance``) int64 values; equal to ``sample_skellam(seed, n, variance)``."""
    return _core.skellam_sample(check_seed(seed), check_variance(variance), int(n), check_threads(threads))


def quantize_and_mask_skellam(update: np.ndarray, *, clipping_range: float, quantization_range: int,
                              modulus_range: int, self_seed: bytes | None, peer_seeds: Sequence[bytes],
                              peer_signs: Sequence[int], noise_seed: bytes, noise_variance: float,
                              rounding_seed: bytes | None = None,
                              threads: int | None = None) -> np.ndarray:
    """``(quantize(update) + Skellam noise + PRG(self_seed) + sum_j sign_j PRG(peer_j)) mod R``."""
    arr = check_update(update)
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    r = check_modulus(modulus_range)
    if q > r:
        raise ModulusError(f"quantization_range {q} exceeds modulus_range {r}; raise modulus_range")
    seeds = check_seeds(peer_seeds, "peer_seeds")
    signs = check_signs(peer_signs, len(seeds))
    own = None if self_seed is None else check_seed(self_seed, "self_seed")
    rs = rounding_seed_or_fresh(rounding_seed)
    ns = check_seed(noise_seed, "noise_seed")
    return _core.quantize_and_mask_skellam(arr, c, q, r, own, seeds, signs, rs, ns,
                                           check_variance(noise_variance), check_threads(threads))
