"""Quantization: exact agreement with the reference, unbiased rounding, dequantize error, bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import secagg
from secagg import _core
from secagg.core import reference
from secagg.errors import (
    ConfigError,
    DTypeError,
    InputError,
    ModulusError,
    NonFiniteError,
    ShapeError,
)

FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=32)
QRANGES = st.sampled_from([2, 3, 16, 2**8 + 1, 2**16, 2**20, 2**32, 2**32 + 1, 2**40, 2**53 + 1])


@given(x=hnp.arrays(st.sampled_from([np.float32, np.float64]), st.integers(0, 600), elements=FLOATS),
       clip=st.floats(1e-3, 1e3), qrange=QRANGES, seed=st.binary(min_size=32, max_size=32))
def test_quantize_matches_reference(x, clip, qrange, seed):
    got = secagg.quantize(x, clipping_range=clip, quantization_range=qrange, rounding_seed=seed)
    want = reference.quantize(x, clipping_range=clip, quantization_range=qrange, rounding_seed=seed)
    assert got.dtype == (np.uint32 if qrange <= 2**32 else np.uint64)
    np.testing.assert_array_equal(got, want)
    if x.size:
        assert int(got.max()) <= qrange - 1


def test_clipping_edges():
    x = np.array([-1e30, -2.0, 2.0, 1e30, 0.0], dtype=np.float64)
    q = secagg.quantize(x, clipping_range=2.0, quantization_range=101, rounding_seed=bytes(32))
    assert q.tolist()[:4] == [0, 0, 100, 100]
    assert q[4] == 50


def test_stochastic_rounding_is_unbiased():
    # Every element sits at level 37.3 of [0, 100]; with a fixed seed the mean of the rounded
    # values must be 37.3 within 6 standard errors (sd of a Bernoulli(0.3) mean over n draws).
    n = 200_000
    c, qrange = 1.0, 101
    level = 37.3
    x = np.full(n, level * 2 * c / (qrange - 1) - c, dtype=np.float64)
    t = (x[0] + c) * ((qrange - 1) / (2 * c))
    q = secagg.quantize(x, clipping_range=c, quantization_range=qrange, rounding_seed=b"\x07" * 32)
    assert set(np.unique(q).tolist()) == {37, 38}
    tol = 6 * np.sqrt(0.3 * 0.7 / n)
    assert abs(q.mean() - t) < tol


def test_fresh_rounding_seed_each_call():
    x = np.full(1000, 0.5 / 100, dtype=np.float32)  # halfway between two levels
    a = secagg.quantize(x, clipping_range=1.0, quantization_range=201)
    b = secagg.quantize(x, clipping_range=1.0, quantization_range=201)
    assert not np.array_equal(a, b)


@given(n=st.integers(1, 8), d=st.integers(1, 400), qbits=st.integers(4, 24),
       seed=st.integers(0, 2**32 - 1))
def test_dequantized_sum_within_n_steps(n, d, qbits, seed):
    rng = np.random.default_rng(seed)
    c, qrange, r = 1.5, 2**qbits, 2**32
    updates = [rng.uniform(-c, c, d).astype(np.float32) for _ in range(n)]
    qs = [secagg.quantize(u, clipping_range=c, quantization_range=qrange, rounding_seed=os.urandom(32))
          for u in updates]
    total = secagg.sum_masked(qs, modulus_range=r)
    approx = secagg.dequantize(total, clipping_range=c, quantization_range=qrange, modulus_range=r,
                               num_clients=n)
    step = 2 * c / (qrange - 1)
    exact = np.sum([u.astype(np.float64) for u in updates], axis=0)
    assert approx.dtype == np.float64
    assert np.all(np.abs(approx - exact) <= n * step * (1 + 1e-9))


def test_dequantize_refuses_overflowing_configuration():
    with pytest.raises(ModulusError):
        secagg.dequantize(np.zeros(3, np.uint32), clipping_range=1.0, quantization_range=2**16,
                          modulus_range=2**20, num_clients=17)
    secagg.dequantize(np.zeros(3, np.uint32), clipping_range=1.0, quantization_range=2**16,
                      modulus_range=2**20, num_clients=16)


@pytest.mark.parametrize("bad", [np.arange(5), np.arange(5, dtype=np.uint32), np.ones(5, bool),
                                 np.ones(5, np.float16), np.array(["a"] * 5), [1, 2, 3]])
def test_update_dtype_refused(bad):
    with pytest.raises(DTypeError):
        secagg.quantize(bad, clipping_range=1.0, quantization_range=16)


def test_update_shape_refused():
    with pytest.raises(ShapeError):
        secagg.quantize(np.zeros((3, 3)), clipping_range=1.0, quantization_range=16)
    with pytest.raises(ShapeError):
        secagg.quantize(np.float64(1.0), clipping_range=1.0, quantization_range=16)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 4097, 99_999])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_refused(value, where, dtype):
    x = np.zeros(100_000, dtype=dtype)
    x[where] = value
    with pytest.raises(NonFiniteError, match=str(where)):
        secagg.quantize(x, clipping_range=1.0, quantization_range=16, threads=2)
    with pytest.raises(NonFiniteError):
        secagg.quantize_and_mask(x, clipping_range=1.0, quantization_range=16, modulus_range=1000,
                                 self_seed=bytes(32), peer_seeds=[bytes(32)] * 3,
                                 peer_signs=[1, -1, 1], threads=2)


@pytest.mark.parametrize("clip", [0, -1.0, np.nan, np.inf, "1", None, True])
def test_bad_clipping(clip):
    with pytest.raises(ConfigError):
        secagg.quantize(np.zeros(3), clipping_range=clip, quantization_range=16)


@pytest.mark.parametrize("clip, qrange", [(1e308, 16), (1e-320, 2**20)])
def test_clipping_out_of_scale(clip, qrange):
    with pytest.raises(ConfigError):
        secagg.quantize(np.zeros(3), clipping_range=clip, quantization_range=qrange)
    with pytest.raises(ConfigError):
        secagg.quantize_and_mask(np.zeros(3), clipping_range=clip, quantization_range=qrange,
                                 modulus_range=2**32, self_seed=None, peer_seeds=[], peer_signs=[])
    with pytest.raises(ConfigError):  # the native core checks it too
        _core.quantize(np.zeros(3), clip, qrange, bytes(32))


@pytest.mark.parametrize("qrange", [0, 1, -5, 2**53 + 2, 16.0, "16", True])
def test_bad_quantization_range(qrange):
    with pytest.raises(ConfigError):
        secagg.quantize(np.zeros(3), clipping_range=1.0, quantization_range=qrange)


def test_dequantize_bad_input():
    kw = dict(clipping_range=1.0, quantization_range=16, modulus_range=2**16, num_clients=2)
    with pytest.raises(DTypeError):
        secagg.dequantize(np.zeros(3, np.float64), **kw)
    with pytest.raises(InputError):
        secagg.dequantize(np.array([2**16], np.uint64), **kw)
    with pytest.raises(InputError):
        secagg.dequantize(np.array([2**16], np.uint32), **kw)
    with pytest.raises(ConfigError):
        secagg.dequantize(np.zeros(3, np.uint32), **{**kw, "num_clients": 0})
