"""Masking: the fused kernel against the reference, masks cancel, unmasking with dropouts, bad input."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import secagg
from secagg.core import reference
from secagg.core.prg import available_backends, set_backend
from secagg.errors import DTypeError, InputError, ModulusError, SeedError, ShapeError

MODULI = st.sampled_from([2**16, 2**20, 2**32, 2**40, 2**64, 65537, 1_000_003, 2**32 - 5,
                          3 * 2**33, 2**62])
SEEDS = st.binary(min_size=32, max_size=32)


def seeds(n: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(n)]


@given(d=st.integers(0, 700), modulus=MODULI, k=st.integers(0, 5), with_self=st.booleans(),
       data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_quantize_and_mask_matches_reference(d, modulus, k, with_self, data, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.normal(0, 1, d).astype(dtype)
    qrange = min(2**12, modulus)
    kw = dict(clipping_range=2.5, quantization_range=qrange, modulus_range=modulus,
              self_seed=data.draw(SEEDS) if with_self else None,
              peer_seeds=[data.draw(SEEDS) for _ in range(k)],
              peer_signs=[data.draw(st.sampled_from([1, -1])) for _ in range(k)],
              rounding_seed=data.draw(SEEDS))
    got = secagg.quantize_and_mask(x, **kw)
    assert got.dtype == (np.uint32 if modulus <= 2**32 else np.uint64)
    np.testing.assert_array_equal(got, reference.quantize_and_mask(x, **kw))


@given(n=st.integers(2, 6), d=st.integers(1, 500), modulus=MODULI, data=st.data())
def test_masks_cancel_and_unmask_recovers_sum(n, d, modulus, data):
    """Complete graph: pair (i, j), i < j, shares seed s_ij; i adds +PRG, j adds -PRG.

    Some clients drop after the key exchange (they upload nothing); the server removes the self
    masks of survivors and, for each dropped peer, the pairwise masks the survivors added.
    """
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    qrange = min(2**10, modulus // n)
    pair = {(i, j): os.urandom(32) for i, j in itertools.combinations(range(n), 2)}
    self_seeds = seeds(n)
    dropped = set(data.draw(st.sets(st.integers(0, n - 1), max_size=n - 1)))
    survivors = [i for i in range(n) if i not in dropped]

    def peers_of(i):
        return [(pair[min(i, j), max(i, j)], 1 if i < j else -1, j) for j in range(n) if j != i]

    quantized, masked = [], []
    for i in survivors:
        x = rng.uniform(-1, 1, d)
        rs = os.urandom(32)
        quantized.append(secagg.quantize(x, clipping_range=1.0, quantization_range=qrange,
                                         rounding_seed=rs))
        p = peers_of(i)
        masked.append(secagg.quantize_and_mask(
            x, clipping_range=1.0, quantization_range=qrange, modulus_range=modulus,
            self_seed=self_seeds[i], peer_seeds=[s for s, _, _ in p],
            peer_signs=[g for _, g, _ in p], rounding_seed=rs))
    total = secagg.sum_masked(masked, modulus_range=modulus)
    dropped_masks = [(s, g) for i in survivors for s, g, j in peers_of(i) if j in dropped]
    unmasked = secagg.unmask(total, modulus_range=modulus,
                             self_seeds=[self_seeds[i] for i in survivors],
                             peer_seeds=[s for s, _ in dropped_masks],
                             peer_signs=[g for _, g in dropped_masks])
    expected = np.zeros(d, dtype=object)
    for q in quantized:
        expected = (expected + q.astype(object)) % modulus
    np.testing.assert_array_equal(unmasked.astype(object), expected)
    # With no dropout the pairwise masks cancel in the sum by themselves.
    if not dropped:
        only_self = secagg.unmask(total, modulus_range=modulus, self_seeds=self_seeds,
                                  peer_seeds=[], peer_signs=[])
        np.testing.assert_array_equal(only_self, unmasked)


@given(n=st.integers(1, 5), d=st.integers(0, 300), modulus=MODULI, data=st.data())
def test_sum_and_unmask_match_reference(n, d, modulus, data):
    dtype = np.uint32 if modulus <= 2**32 else np.uint64
    vecs = [secagg.prg_expand(data.draw(SEEDS), d, modulus_range=modulus) for _ in range(n)]
    assert all(v.dtype == dtype for v in vecs)
    got = secagg.sum_masked(vecs, modulus_range=modulus)
    np.testing.assert_array_equal(got, reference.sum_masked(vecs, modulus_range=modulus))
    np.testing.assert_array_equal(secagg.sum_masked(np.stack(vecs) if d else np.zeros((n, 0), dtype),
                                                    modulus_range=modulus), got)
    k = data.draw(st.integers(0, 3))
    kw = dict(modulus_range=modulus, self_seeds=[data.draw(SEEDS) for _ in range(n)],
              peer_seeds=[data.draw(SEEDS) for _ in range(k)],
              peer_signs=[data.draw(st.sampled_from([1, -1])) for _ in range(k)])
    np.testing.assert_array_equal(secagg.unmask(got, **kw), reference.unmask(got, **kw))


def test_sum_accepts_other_integer_dtypes_losslessly():
    a = np.array([2**32 - 1, 5, 0], dtype=np.uint64)
    b = np.array([1, 2, 3], dtype=np.int64)
    got = secagg.sum_masked([a, b], modulus_range=2**32)
    assert got.dtype == np.uint32 and got.tolist() == [0, 7, 3]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("modulus, qrange", [(2**32, 2**8), (2**64, 2**40), (1_000_003, 2**10),
                                             (3 * 2**40, 2**31 + 7)])
def test_portable_and_hardware_kernels_agree(modulus, qrange, dtype):
    """The portable backend also uses the scalar quantization loop, so this covers both loops."""
    x = np.random.default_rng(1).normal(size=10_007).astype(dtype)
    x[::97] = 1e9  # clipped
    kw = dict(clipping_range=3.0, quantization_range=qrange, modulus_range=modulus,
              self_seed=os.urandom(32), peer_seeds=seeds(3), peer_signs=[1, -1, -1],
              rounding_seed=os.urandom(32))
    outs = []
    unmask_seeds = seeds(2)
    try:
        for b in available_backends():
            set_backend(b)
            m = secagg.quantize_and_mask(x, **kw)
            u = secagg.unmask(m, modulus_range=modulus, self_seeds=unmask_seeds,
                              peer_seeds=kw["peer_seeds"], peer_signs=kw["peer_signs"])
            outs.append((m, u))
    finally:
        set_backend("auto")
    for m, u in outs[1:]:
        np.testing.assert_array_equal(m, outs[0][0])
        np.testing.assert_array_equal(u, outs[0][1])


# ---- bad input ---------------------------------------------------------------------------

def qm(**over):
    kw = dict(clipping_range=1.0, quantization_range=16, modulus_range=2**16, self_seed=bytes(32),
              peer_seeds=[bytes(32), b"\x01" * 32], peer_signs=[1, -1])
    kw.update(over)
    return secagg.quantize_and_mask(np.zeros(10, np.float32), **kw)


@pytest.mark.parametrize("signs", [[1, 2], [1, 0], [1, True], [1, 1.0], [1, "1"], [1, -1.0]])
def test_bad_sign(signs):
    with pytest.raises(SeedError):
        qm(peer_signs=signs)


def test_mismatched_peer_lengths():
    with pytest.raises(ShapeError):
        qm(peer_signs=[1])
    with pytest.raises(ShapeError):
        secagg.unmask(np.zeros(4, np.uint32), modulus_range=2**32, self_seeds=[],
                      peer_seeds=[bytes(32)], peer_signs=[1, -1])


@pytest.mark.parametrize("field, value", [("self_seed", bytes(16)), ("self_seed", "x" * 32),
                                          ("peer_seeds", [bytes(32), bytes(31)]),
                                          ("peer_seeds", bytes(64)), ("rounding_seed", bytes(33))])
def test_bad_seeds(field, value):
    with pytest.raises(SeedError):
        qm(**{field: value} if field != "peer_seeds" else {field: value, "peer_signs": [1, 1]})


@pytest.mark.parametrize("modulus", [1, 8, 15, 2**62 + 3, 2**64 * 2, 2.0**16])
def test_modulus_too_small_or_invalid(modulus):
    with pytest.raises(ModulusError):
        qm(modulus_range=modulus)


def test_sum_and_unmask_bad_arrays():
    r = 2**16
    good = np.zeros(5, np.uint32)
    with pytest.raises(DTypeError):
        secagg.sum_masked([good, np.zeros(5, np.float64)], modulus_range=r)
    with pytest.raises(DTypeError):
        secagg.sum_masked(np.zeros((2, 5), np.float32), modulus_range=r)
    with pytest.raises(DTypeError):
        secagg.sum_masked([good, np.zeros(5, bool)], modulus_range=r)
    with pytest.raises(ShapeError):
        secagg.sum_masked([good, np.zeros(6, np.uint32)], modulus_range=r)
    with pytest.raises(ShapeError):
        secagg.sum_masked([], modulus_range=r)
    with pytest.raises(ShapeError):
        secagg.sum_masked(np.zeros(5, np.uint32), modulus_range=r)
    with pytest.raises(InputError):  # element >= R in the working dtype: caught by the kernel
        secagg.sum_masked([good, np.array([0, 0, r, 0, 0], np.uint32)], modulus_range=r)
    with pytest.raises(InputError):
        secagg.sum_masked([good, np.array([0, 0, -1, 0, 0], np.int64)], modulus_range=r)
    with pytest.raises(InputError):
        secagg.sum_masked([np.full(5, 1_000_003, np.uint32)], modulus_range=1_000_003)
    with pytest.raises(DTypeError):
        secagg.unmask(np.zeros(5, np.float64), modulus_range=r, self_seeds=[], peer_seeds=[],
                      peer_signs=[])
    with pytest.raises(InputError):
        secagg.unmask(np.full(5, r, np.uint32), modulus_range=r, self_seeds=[], peer_seeds=[],
                      peer_signs=[])
    with pytest.raises(ShapeError):
        secagg.unmask(np.zeros((2, 2), np.uint32), modulus_range=r, self_seeds=[], peer_seeds=[],
                      peer_signs=[])
