"""Exact Poisson sampling driven by PRG uniforms (no ``numpy.random``).

Two classic exact algorithms, chosen by the mean ``lam`` (the native kernel uses the same rule
and the same arithmetic, so both give the same integers from the same seed):

* ``lam <= 2**26``: inversion with a table: the smallest k with u <= P(lo <= X <= k), for one
  uniform u per element (64-bit word i of PRG(sub_seed(seed, b"poisson", 0))). The table covers
  k in [max(0, m - W), m + W] with m = floor(lam), W = ceil(20 sqrt(lam)) + 30 (the mass outside
  is < 1e-80); it is built from the pmf at m (:func:`log_pmf_scalar`) by the recurrences
  p(k+1) = p(k) * (lam / (k+1)) upward and p(k-1) = p(k) * (k / lam) downward, as running
  products, then summed in order.
* ``lam > 2**26``: PTRS, the transformed rejection method of Hoermann (1993). Element i, attempt j
  uses the uniforms of 64-bit words 2i and 2i+1 of PRG(sub_seed(seed, b"poisson", j)), so every
  element's result depends only on its index and the seed (the native kernel uses the same
  layout). The acceptance test uses the log-pmf in Loader's (2000) saddle-point form
  ``-stirlerr(k) - bd0(k, lam) - log(2 pi k) / 2`` so it keeps full precision for means up to 2**50,
  where ``-lam + k log(lam) - lgamma(k + 1)`` would cancel catastrophically.

Both algorithms are exact given exact uniforms; with 53-bit uniforms and float64 arithmetic
the distribution differs from Poisson(lam) only at the level of float64 rounding.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from ..errors import PrivacyError
from . import randomness

TABLE_MAX_MEAN = 2.0**26
MAX_MEAN = 2.0**50
MAX_ATTEMPTS = 200
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Stirling series coefficients 1/12, 1/360, 1/1260, 1/1680, 1/1188.
_S0, _S1, _S2, _S3, _S4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188


def stirlerr(n: np.ndarray) -> np.ndarray:
    """log(n!) - ((n + 1/2) log n - n + log(2 pi)/2), for n >= 1 (float64 array)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.empty_like(n)
    small = n <= 15
    ns = n[small]
    out[small] = gammaln(ns + 1.0) - (ns + 0.5) * np.log(ns) + ns - _HALF_LOG_2PI
    nl = n[~small]
    nn = nl * nl
    out[~small] = (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / nl
    return out


def bd0(x: np.ndarray, mean: float) -> np.ndarray:
    """The deviance term x log(x / mean) + mean - x, accurate when x is close to ``mean``."""
    x = np.asarray(x, dtype=np.float64)
    out = x * np.log(x / mean) + mean - x
    near = np.abs(x - mean) < 0.1 * (x + mean)
    if np.any(near):
        xn = x[near]
        v = (xn - mean) / (xn + mean)
        s = (xn - mean) * v
        ej = 2.0 * xn * v
        v2 = v * v
        for j in range(1, 20):  # |v| < 0.1: each term is < 1/100 of the previous one
            ej = ej * v2
            s = s + ej / (2 * j + 1)
        out[near] = s
    return out


def log_pmf(k: np.ndarray, mean: float) -> np.ndarray:
    """log P(X = k) for X ~ Poisson(mean), k >= 0 integer-valued floats."""
    k = np.asarray(k, dtype=np.float64)
    out = np.empty_like(k)
    zero = k == 0
    out[zero] = -mean
    kp = k[~zero]
    out[~zero] = -stirlerr(kp) - bd0(kp, mean) - 0.5 * np.log(2.0 * math.pi * kp)
    return out


def _bd0_scalar(x: float, mean: float) -> float:
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        s = (x - mean) * v
        ej = 2.0 * x * v
        v = v * v
        j = 1
        while True:
            ej = ej * v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
            j += 1
    return x * math.log(x / mean) + mean - x


def log_pmf_scalar(k: int, mean: float) -> float:
    """log P(X = k), with only +, *, /, log and exp of IEEE doubles (reproducible in C++)."""
    if k == 0:
        return -mean
    x = float(k)
    if k <= 15:
        fact = 1.0
        for j in range(2, k + 1):
            fact = fact * float(j)
        return -mean + x * math.log(mean) - math.log(fact)
    nn = x * x
    stirl = (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / x
    return -stirl - _bd0_scalar(x, mean) - 0.5 * math.log(2.0 * math.pi * x)


def poisson_table(mean: float) -> tuple[int, np.ndarray]:
    """(lo, cdf) with cdf[j] = P(lo <= X <= lo + j), as described in the module docstring."""
    mode = int(math.floor(mean))
    width = int(math.ceil(20.0 * math.sqrt(mean))) + 30
    lo, hi = max(0, mode - width), mode + width
    p_mode = math.exp(log_pmf_scalar(mode, mean))
    up = np.cumprod(np.concatenate([[p_mode], mean / np.arange(mode + 1, hi + 1, dtype=np.float64)]))
    down = np.cumprod(np.concatenate([[p_mode], np.arange(mode, lo, -1, dtype=np.float64) / mean]))
    pmf = np.concatenate([down[:0:-1], up])
    return lo, np.cumsum(pmf)


def _table_sample(u: np.ndarray, mean: float) -> np.ndarray:
    lo, cdf = poisson_table(mean)
    idx = np.minimum(np.searchsorted(cdf, u, side="left"), cdf.size - 1)
    return lo + idx.astype(np.int64)


def _ptrs_constants(mean: float) -> tuple[float, float, float, float, float]:
    slam = math.sqrt(mean)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    return a, b, inv_alpha, vr, math.log(inv_alpha)


def _ptrs(seed: bytes, n: int, mean: float) -> np.ndarray:
    a, b, _, vr, log_inv_alpha = _ptrs_constants(mean)
    out = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    for attempt in range(MAX_ATTEMPTS):
        if pending.size == 0:
            return out
        w = randomness.words(randomness.sub_seed(seed, b"poisson", attempt), 2 * n)
        u = randomness.uniforms_from_words(w[2 * pending]) - 0.5
        v = randomness.uniforms_from_words(w[2 * pending + 1])
        us = 0.5 - np.abs(u)
        k = np.floor((2.0 * a / us + b) * u + mean + 0.43)
        quick = (us >= 0.07) & (v <= vr)
        possible = ~quick & (k >= 0) & ~((us < 0.013) & (v > us))
        accept = quick.copy()
        idx = np.flatnonzero(possible)
        if idx.size:
            lhs = np.log(v[idx]) + log_inv_alpha - np.log(a / (us[idx] * us[idx]) + b)
            accept[idx] = lhs <= log_pmf(k[idx], mean)
        out[pending[accept]] = k[accept].astype(np.int64)
        pending = pending[~accept]
    raise PrivacyError(f"Poisson sampler did not accept within {MAX_ATTEMPTS} attempts "
                       "(probability < 1e-190); the PRG stream is broken")


def check_mean(mean: float) -> float:
    m = float(mean)
    if not (math.isfinite(m) and 0.0 <= m <= MAX_MEAN):
        raise PrivacyError(f"Poisson mean must be in [0, 2**50], got {mean}; lower the scale "
                           "or the noise (fewer bits)")
    return m


def sample_poisson(seed: bytes, n: int, mean: float) -> np.ndarray:
    """``n`` independent Poisson(``mean``) integers (int64) from PRG(``seed``)."""
    mean = check_mean(mean)
    if mean == 0.0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    if mean <= TABLE_MAX_MEAN:
        u = randomness.uniforms(randomness.sub_seed(seed, b"poisson", 0), n)
        return _table_sample(u, mean)
    return _ptrs(seed, n, mean)
