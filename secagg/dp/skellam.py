"""The symmetric Skellam distribution: the integer noise each client adds.

``Skellam(v) = Poisson(v / 2) - Poisson(v / 2)``: mean 0, variance v, pmf ``exp(-v) I_|k|(v)``,
and closed under addition, so n clients adding ``Skellam(v)`` each give exactly ``Skellam(n v)``
in the aggregate (Agarwal, Kairouz, Liu 2021).

Sampling contract (the native kernel implements the same operations in the same order, so both
produce identical integers from the same seed):

* ``v <= 2**27``: table inversion. Element i takes the uniform ``u`` of 64-bit word i of
  PRG(sub_seed(seed, b"skellam", 0)) and returns the smallest k in [-W, W] with
  u <= cdf(k) (W if none), W = ceil(20 sqrt(v)) + 30 (mass beyond W < 1e-80). The pmf comes from
  Miller's backward recurrence for the modified Bessel functions,
  ``t[k-1] = t[k+1] + ((2k) / v) * t[k]`` from t[W+11] = 0, t[W+10] = 1 (rescaled by 2**-600
  whenever a value exceeds 2**600), normalised by ``S = t[0] + 2 * sum_{k=1..W} t[k]`` (summed
  upward); cdf is the running sum of t[|k|] / S from k = -W.
* ``v > 2**27`` (Python only): Poisson(v/2) from sub_seed(seed, b"skellam+") minus Poisson(v/2)
  from sub_seed(seed, b"skellam-"), each with the PTRS sampler of :mod:`.poisson`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ive

from ..core.masking import MAX_NOISE_VARIANCE
from . import randomness
from .poisson import sample_poisson

TABLE_MAX_VARIANCE = MAX_NOISE_VARIANCE  # the native sampler and this table cover the same variances
_BIG = 2.0**600
_SHRINK = 2.0**-600


def table_width(variance: float) -> int:
    return int(math.ceil(20.0 * math.sqrt(variance))) + 30


def skellam_table(variance: float) -> np.ndarray:
    """cdf[j] = P(-W <= X <= j - W) for X ~ Skellam(variance), 0 < variance <= 2**27."""
    v = float(variance)
    w = table_width(v)
    start = w + 10
    t = [0.0] * (start + 2)
    t[start] = 1.0
    for k in range(start, 0, -1):
        val = t[k + 1] + ((2.0 * k) / v) * t[k]
        t[k - 1] = val
        if val > _BIG:
            for j in range(k - 1, start + 1):
                t[j] = t[j] * _SHRINK
    acc = 0.0
    for k in range(1, w + 1):
        acc = acc + t[k]
    total = t[0] + 2.0 * acc
    half = np.array(t[: w + 1], dtype=np.float64) / total
    pmf = np.concatenate([half[:0:-1], half])
    return np.cumsum(pmf)


def sample_skellam(seed: bytes, n: int, variance: float) -> np.ndarray:
    """``n`` independent Skellam integers (int64) with the given variance, from PRG(``seed``)."""
    v = float(variance)
    if v == 0.0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    if v <= TABLE_MAX_VARIANCE:
        cdf = skellam_table(v)
        u = randomness.uniforms(randomness.sub_seed(seed, b"skellam", 0), n)
        idx = np.minimum(np.searchsorted(cdf, u, side="left"), cdf.size - 1)
        return idx.astype(np.int64) - table_width(v)
    half = v / 2.0
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
