"""Randomized rounding to integers, and its conditional form with an L2 norm check.

``randomized_round``: each coordinate x becomes floor(x) + 1 with probability frac(x), else
floor(x) (unbiased: E = x), using one PRG uniform per coordinate.

``conditional_randomized_round`` (Kairouz, Liu, Steinke 2021, Alg. 1; Agarwal, Kairouz, Liu 2021):
repeat the randomized rounding with fresh uniforms (attempt j uses
``sub_seed(seed, b"round", j)``) until the rounded vector's L2 norm is at most
:func:`rounded_norm_bound`. The bound holds with probability >= 1 - beta per attempt, so the
expected number of attempts is <= 1 / (1 - beta); the accepted vector's norm, which is the
mechanism's L2 sensitivity, is then guaranteed.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import PrivacyError
from . import randomness

MAX_ATTEMPTS = 1000


def rounded_norm_bound(scaled_norm: float, dim: int, beta: float) -> float:
    """The L2 bound of a rounded vector whose norm before rounding is <= ``scaled_norm``.

    ``min(C^2 + d/4 + sqrt(2 log(1/beta)) (C + sqrt(d)/2), (C + sqrt(d))^2) ** 0.5`` with
    C = ``scaled_norm`` and d = ``dim`` (Kairouz, Liu, Steinke 2021, Thm. 3.3); the second term
    holds with certainty since rounding moves each coordinate by < 1.
    """
    c, d = float(scaled_norm), float(dim)
    prob = c * c + d / 4.0 + math.sqrt(2.0 * math.log(1.0 / beta)) * (c + math.sqrt(d) / 2.0)
    sure = (c + math.sqrt(d)) ** 2
    return math.sqrt(min(prob, sure))


def randomized_round(x: np.ndarray, seed: bytes) -> np.ndarray:
    """Unbiased randomized rounding of a float64 vector to int64, uniforms from PRG(``seed``)."""
    x = np.asarray(x, dtype=np.float64)
    floor = np.floor(x)
    u = randomness.uniforms(seed, x.size).reshape(x.shape)
    return (floor + (u < (x - floor))).astype(np.int64)


def conditional_randomized_round(x: np.ndarray, seed: bytes, bound: float) -> tuple[np.ndarray, int]:
    """Round until ``||rounded||_2 <= bound``; returns (int64 vector, attempts used)."""
    for attempt in range(MAX_ATTEMPTS):
        r = randomized_round(x, randomness.sub_seed(seed, b"round", attempt))
        rf = r.astype(np.float64)
        if math.sqrt(float(np.dot(rf, rf))) <= bound:
            return r, attempt + 1
    raise PrivacyError(f"no rounding within {MAX_ATTEMPTS} attempts met the norm bound {bound:.6g}; "
                       "the input's norm exceeds the clip norm the bound was computed for")
