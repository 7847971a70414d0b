"""The integer noise: exact Poisson and Skellam samplers driven by the PRG."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from secagg.dp.poisson import log_pmf, sample_poisson
from secagg.dp.skellam import sample_skellam, skellam_pmf

SEED = bytes(range(32))


def chi_square_pvalue(samples: np.ndarray, pmf, lo: int, hi: int, far: int) -> float:
    """Chi-square test over the bins lo..hi plus both tails; bins with expected count < 5 merged.

    Tail probabilities are summed from the pmf out to ``far`` beyond the range (where the mass
    left is negligible).
    """
    ks = np.arange(lo, hi + 1)
    probs = np.concatenate([[pmf(np.arange(lo - far, lo)).sum()], pmf(ks),
                            [pmf(np.arange(hi + 1, hi + 1 + far)).sum()]])
    observed = np.concatenate([[np.sum(samples < lo)], [np.sum(samples == k) for k in ks],
                               [np.sum(samples > hi)]]).astype(np.float64)
    expected = probs * samples.size
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:
        obs[-2] += obs[-1]
        exp[-2] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    return float(stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)


@pytest.mark.parametrize("mean", [0.7, 4.0, 9.99, 10.0, 37.5, 2500.0])
def test_poisson_goodness_of_fit(mean: float) -> None:
    x = sample_poisson(SEED, 40_000, mean)
    assert x.dtype == np.int64 and x.min() >= 0
    sd = np.sqrt(mean)
    lo, hi = max(0, int(mean - 4 * sd)), int(mean + 4 * sd) + 1

    p = chi_square_pvalue(x, lambda k: stats.poisson.pmf(k, mean), lo, hi, far=int(20 * sd) + 50)
    assert p > 1e-3, f"Poisson({mean}) fails chi-square: p = {p}"
    assert abs(x.mean() - mean) < 5 * sd / np.sqrt(x.size)


def test_poisson_huge_mean_moments() -> None:
    mean = 3e11
    x = sample_poisson(SEED, 20_000, mean).astype(np.float64)
    se = np.sqrt(mean / x.size)
    assert abs(x.mean() - mean) < 5 * se
    assert abs(x.var() / mean - 1) < 5 * np.sqrt(2 / x.size)


def test_log_pmf_matches_high_precision() -> None:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for mean in (12.0, 1e4, 1e9, 1e14):
        k = np.unique(np.floor(mean + np.sqrt(mean) * np.linspace(-6, 6, 41)))
        k = k[k >= 1]
        exact = [float(-mpmath.mpf(mean) + kk * mpmath.log(mean) - mpmath.loggamma(kk + 1))
                 for kk in k]
        np.testing.assert_allclose(log_pmf(k, mean), exact, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("variance", [3.0, 50.0, 4000.0])
def test_skellam_mean_variance_and_fit(variance: float) -> None:
    x = sample_skellam(SEED, 60_000, variance)
    n = x.size
    assert abs(x.mean()) < 5 * np.sqrt(variance / n)
    assert abs(x.var() / variance - 1) < 5 * np.sqrt(2 / n) + 5 / n
    sd = np.sqrt(variance)
    k = int(4 * sd) + 1
    p = chi_square_pvalue(x, lambda ks: skellam_pmf(ks, variance), -k, k, far=int(20 * sd) + 50)
    assert p > 1e-3, f"Skellam({variance}) fails chi-square: p = {p}"


def test_skellam_pmf_matches_difference_of_poissons() -> None:
    v = 6.0
    ks = np.arange(-15, 16)
    direct = np.array([sum(stats.poisson.pmf(j + k, v / 2) * stats.poisson.pmf(j, v / 2)
                           for j in range(0, 80)) for k in ks])
    np.testing.assert_allclose(skellam_pmf(ks, v), direct, rtol=1e-10, atol=1e-15)


def test_sum_of_client_noise_has_total_variance() -> None:
    n_clients, local = 25, 400.0
    total = sum(sample_skellam(bytes([i]) * 32, 8000, local) for i in range(n_clients))
    target = n_clients * local
    assert abs(total.var() / target - 1) < 5 * np.sqrt(2 / total.size)
    p = chi_square_pvalue(total, lambda ks: skellam_pmf(ks, target), -300, 300, far=2000)
    assert p > 1e-3


def test_noise_is_deterministic_in_the_seed_and_differs_across_seeds() -> None:
    a = sample_skellam(SEED, 1000, 123.0)
    np.testing.assert_array_equal(a, sample_skellam(SEED, 1000, 123.0))
    assert not np.array_equal(a, sample_skellam(bytes(32), 1000, 123.0))
    # element i depends only on i and the seed: a prefix is a prefix
    np.testing.assert_array_equal(a[:300], sample_skellam(SEED, 300, 123.0))


def test_zero_variance_gives_zeros() -> None:
    assert not sample_skellam(SEED, 50, 0.0).any()
