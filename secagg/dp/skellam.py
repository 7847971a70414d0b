"""The symmetric Skellam distribution: the integer noise each client adds.

``Skellam(variance) = Poisson(variance / 2) - Poisson(variance / 2)``: mean 0, the given
variance, and closed under addition, so n clients adding ``Skellam(v)`` each give exactly
``Skellam(n v)`` in the aggregate (Agarwal, Kairouz, Liu 2021). The two Poisson streams come from
``sub_seed(seed, b"skellam+")`` and ``sub_seed(seed, b"skellam-")`` (see :mod:`.poisson`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ive

from . import randomness
from .poisson import sample_poisson


def sample_skellam(seed: bytes, n: int, variance: float) -> np.ndarray:
    """``n`` independent Skellam integers (int64) with the given variance, from PRG(``seed``)."""
    half = float(variance) / 2.0
    plus = sample_poisson(randomness.sub_seed(seed, b"skellam+"), n, half)
    minus = sample_poisson(randomness.sub_seed(seed, b"skellam-"), n, half)
    return plus - minus


def skellam_pmf(k: np.ndarray, variance: float) -> np.ndarray:
    """P(X = k) for the symmetric Skellam with the given variance: exp(-v) I_|k|(v)."""
    v = float(variance)
    k = np.abs(np.asarray(k))
    if v == 0.0:
        return (k == 0).astype(np.float64)
    return ive(k, v)  # the exponentially scaled Bessel function: exp(-v) I_k(v) for v > 0
