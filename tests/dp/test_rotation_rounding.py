"""Rotation is exactly inverted; rounding is unbiased and respects the norm bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from secagg.dp.rotation import RandomizedHadamard, fwht, padded_dim
from secagg.dp.rounding import (
    conditional_randomized_round,
    randomized_round,
    rounded_norm_bound,
)

SEED = bytes(range(32))


def test_fwht_is_the_hadamard_matrix() -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 8, 64):
        v = rng.normal(size=(3, n))
        np.testing.assert_allclose(fwht(v), v @ scipy.linalg.hadamard(n).T, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e6, 1e6)),
       st.binary(min_size=32, max_size=32))
def test_rotation_round_trip_and_norm(x: np.ndarray, seed: bytes) -> None:
    rot = RandomizedHadamard(x.size, seed)
    y = rot.forward(x)
    assert y.shape == (padded_dim(x.size),)
    scale = max(1.0, float(np.abs(x).max()))
    np.testing.assert_allclose(rot.inverse(y), x, atol=1e-12 * scale * math.log2(y.size + 1) + 1e-300)
    assert abs(np.linalg.norm(y) - np.linalg.norm(x)) <= 1e-12 * scale * y.size


def test_rotation_is_exact_on_integers_up_to_scaling() -> None:
    # H H = d' I exactly in integers: rotating twice without normalisation multiplies by d'
    x = np.arange(-50, 50, dtype=np.float64)
    h = fwht(fwht(np.pad(x, (0, 28))))
    np.testing.assert_array_equal(h[:100], 128 * x)


def test_rotation_flattens_a_spike() -> None:
    x = np.zeros(1000)
    x[3] = 10.0
    y = RandomizedHadamard(1000, SEED).forward(x)
    np.testing.assert_allclose(np.abs(y), 10.0 / math.sqrt(1024))


def test_rotation_is_shared_by_seed() -> None:
    x = np.linspace(-1, 1, 77)
    a, b = RandomizedHadamard(77, SEED), RandomizedHadamard(77, SEED)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    assert not np.allclose(a.forward(x), RandomizedHadamard(77, bytes(32)).forward(x))


def test_randomized_round_is_unbiased() -> None:
    x = np.array([-2.75, -0.5, 0.0, 0.1, 0.9, 3.3333, 1e6 + 0.25])
    trials = np.stack([randomized_round(x, bytes([i % 256, i // 256]) + bytes(30))
                       for i in range(4000)])
    frac = x - np.floor(x)
    se = np.sqrt(frac * (1 - frac) / trials.shape[0])
    assert np.all(np.abs(trials.mean(axis=0) - x) <= 5 * se + 1e-12)
    assert np.all((trials == np.floor(x)) | (trials == np.floor(x) + 1))


def test_conditional_rounding_meets_the_bound() -> None:
    rng = np.random.default_rng(2)
    d, c = 256, 40.0
    beta = math.exp(-0.5)
    bound = rounded_norm_bound(c, d, beta)
    attempts = []
    for i in range(60):
        x = rng.normal(size=d)
        x *= c / np.linalg.norm(x)
        r, k = conditional_randomized_round(x, bytes([i]) * 32, bound)
        attempts.append(k)
        assert np.linalg.norm(r) <= bound
        assert np.all(np.abs(r - x) < 1)
    assert np.mean(attempts) <= 1 / (1 - beta) + 1.0


def test_rounded_norm_bound_formula() -> None:
    c, d, beta = 10.0, 64, 0.5
    expect = min(c * c + d / 4 + math.sqrt(2 * math.log(2)) * (c + 4), (c + 8) ** 2) ** 0.5
    assert rounded_norm_bound(c, d, beta) == pytest.approx(expect)
    # tiny norms: the deterministic bound (C + sqrt(d))^2 is the smaller one
    assert rounded_norm_bound(0.0, 4, 0.5) == pytest.approx(min(1 + math.sqrt(2 * math.log(2)), 4) ** 0.5)
