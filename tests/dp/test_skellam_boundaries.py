"""The native Skellam inversion (integer thresholds, coarse guide, AVX2 batches) against the
double comparison of the Python sampler, on PRG words at and around every CDF threshold."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import _core
from secagg.dp.randomness import uniforms_from_words
from secagg.dp.skellam import TABLE_MAX_VARIANCE, skellam_table, table_width

GRID = 2**53


def reference(words: np.ndarray, variance: float) -> np.ndarray:
    """The Python sampler's rule: the smallest k with u <= cdf(k), or W if none."""
    cdf = skellam_table(variance)
    idx = np.minimum(np.searchsorted(cdf, uniforms_from_words(words), side="left"), cdf.size - 1)
    return idx.astype(np.int64) - table_width(variance)


def boundary_words(variance: float, rng: np.random.Generator) -> np.ndarray:
    """Words whose 53-bit grid value m lies within 3 of cdf(k) 2^53 for every k, of every guide
    slot edge, the ends of the grid, and random words; with random low 11 bits."""
    cdf = skellam_table(variance)
    centre = np.floor(cdf * 2.0**53)  # exact: scaling by a power of two
    centre = np.clip(centre, 0, GRID - 1).astype(np.int64)
    ms = [(centre + d) for d in range(-3, 4)]
    for r_bits in range(33, 47):  # slot widths of guides with 2^7 .. 2^20 slots
        starts = rng.integers(0, 2 ** (53 - r_bits), 200, dtype=np.int64) << r_bits
        ms += [starts - 1, starts, starts + 1]
    ms.append(np.array([0, 1, 2, GRID - 3, GRID - 2, GRID - 1], dtype=np.int64))
    ms.append(rng.integers(0, GRID, 20_000, dtype=np.int64))
    m = np.clip(np.concatenate(ms), 0, GRID - 1).astype(np.uint64)
    low = rng.integers(0, 2**11, m.size, dtype=np.uint64)
    w = (m << np.uint64(11)) | low
    rng.shuffle(w)  # mixes slow and fast words inside the 4-word batches
    return w


@pytest.mark.parametrize("variance", [0.3, 7.0, 1234.5, 1e5, 2.5e5, 3e7, TABLE_MAX_VARIANCE])
@pytest.mark.parametrize("batch", [False, True])
def test_native_inversion_matches_double_comparison(variance: float, batch: bool) -> None:
    rng = np.random.default_rng(int(variance * 10) + batch)
    w = boundary_words(variance, rng)
    got = _core._skellam_sample_words(variance, w, batch)
    np.testing.assert_array_equal(got, reference(w, variance))


def test_words_on_each_side_of_every_threshold_differ() -> None:
    """The boundary set really straddles the thresholds: for each k whose cdf is distinct from its
    neighbours, the words just below and just above its threshold get different answers."""
    v = 1234.5
    cdf = skellam_table(v)
    w = boundary_words(v, np.random.default_rng(5))
    answers = set(_core._skellam_sample_words(v, w, True).tolist())
    k = np.arange(cdf.size) - table_width(v)
    # every k with probability mass above the grid resolution is reachable and is hit
    reachable = k[np.diff(np.concatenate([[0.0], cdf])) > 4 * 2.0**-53]
    assert set(reachable.tolist()) <= answers
