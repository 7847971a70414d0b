"""DP popularity: capped 0/1 contributions, one secure round with distributed Skellam noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dp_accounting")

from secagg.errors import ConfigError, PrivacyError  # noqa: E402
from secagg.rec.dp_popularity import (  # noqa: E402
    DPPopularity,
    DPPopularityConfig,
    capped_contributions,
    seeded_ranks,
)
from secagg.rec.split import leave_one_out  # noqa: E402
from secagg.rec.synthetic import make_synthetic  # noqa: E402


@pytest.fixture(scope="module")
def wide_train():
    """Enough items (~1000) for a variance estimate over coordinates."""
    data = make_synthetic(n_users=150, n_items=1000, factors=4, mean_interactions=20, seed=5)
    return leave_one_out(data).train


@pytest.mark.parametrize("cap", [1, 3, 10])
def test_cap_is_honoured_and_seeded(small_split, cap):
    train = small_split.train
    users, matrix = capped_contributions(train, cap, seed=4)
    assert set(np.unique(matrix)) <= {0.0, 1.0}
    for row, user in zip(matrix, users):
        own = set(train.items_of(int(user)))
        marked = set(np.flatnonzero(row))
        assert marked <= own
        assert len(marked) == min(cap, len(own))
    again = capped_contributions(train, cap, seed=4)[1]
    assert np.array_equal(matrix, again)
    other = capped_contributions(train, cap, seed=5)[1]
    over = train.counts()[users] > cap
    if over.any():  # users above the cap keep a seed-dependent random subset
        assert not np.array_equal(matrix[over], other[over])


def test_noise_has_the_planned_variance(wide_train):
    cap, seed = 4, 2
    model = DPPopularity(DPPopularityConfig(epsilon=2.0, cap=cap, aggregator="plain", seed=seed)).fit(wide_train)
    _, matrix = capped_contributions(wide_train, cap, seed)
    residual = model.counts - matrix.sum(axis=0)
    planned = model.privacy["noise_std"] ** 2
    assert planned > 1.0  # real noise, not rounding error
    d = residual.size
    # Sample variance over ~1000 coordinates has relative sd ~ sqrt(2 / d) ~ 4.5%; allow 25%.
    assert abs(residual.var() / planned - 1.0) < 0.25
    assert abs(residual.mean()) < 5 * math.sqrt(planned / d)


def test_epsilon_is_at_most_the_target_without_amplification(wide_train):
    cap = 8
    model = DPPopularity(DPPopularityConfig(epsilon=4.0, cap=cap, aggregator="plain")).fit(wide_train)
    p = model.privacy
    assert 0 < p["epsilon_spent"] <= 4.0
    assert p["sampling_probability"] == 1.0 and p["rounds"] == 1  # every client, one release
    assert p["clip_norm"] == pytest.approx(math.sqrt(cap))  # clipping = the L2 of a capped 0/1 vector
    assert p["clients"] == p["contributors"] == int((wide_train.counts() > 0).sum())


def rounding_tolerance(model: DPPopularity) -> float:
    """6 sd of the randomized rounding alone: each client's error has variance <= 1/4 per rotated
    integer coordinate, the inverse rotation is orthonormal, and the sum is divided by the scale."""
    return 6 * math.sqrt(model.privacy["clients"] / 4) / model.privacy["scale"]


def test_without_noise_the_release_is_the_capped_histogram(small_split):
    model = DPPopularity(DPPopularityConfig(epsilon=math.inf, cap=5, aggregator="plain", seed=1))
    model.fit(small_split.train)
    exact = capped_contributions(small_split.train, 5, 1)[1].sum(axis=0)
    assert np.allclose(model.counts, exact, rtol=0, atol=rounding_tolerance(model))
    assert model.privacy["epsilon_spent"] == math.inf


def test_summed_through_secure_aggregation(small_split):
    """The same release through a real SecAgg+ session (no noise: the sum must be the histogram)."""
    train = small_split.train
    model = DPPopularity(DPPopularityConfig(epsilon=math.inf, cap=3, aggregator="secagg+", seed=0)).fit(train)
    exact = capped_contributions(train, 3, 0)[1].sum(axis=0)
    assert np.allclose(model.counts, exact, rtol=0, atol=rounding_tolerance(model))
    noisy = DPPopularity(DPPopularityConfig(epsilon=8.0, cap=3, aggregator="secagg+", seed=0)).fit(train)
    assert noisy.privacy["epsilon_spent"] <= 8.0
    assert noisy.privacy["noise_std"] > 10 * rounding_tolerance(model)
    assert np.abs(noisy.counts - exact).max() > rounding_tolerance(model)  # the noise is there


def test_scores_follow_the_release_for_every_user(small_split):
    model = DPPopularity(DPPopularityConfig(epsilon=1.0, cap=2, aggregator="plain")).fit(small_split.train)
    rows = model.scores(np.array([0, 1, 2]))
    assert (rows == rows[0]).all()
    order = np.argsort(-rows[0])
    assert (np.diff(model.counts[order]) <= 0).all()  # a higher noisy count, a higher score


def test_equal_counts_are_ordered_by_seed():
    counts = np.array([3.0, 5.0, 3.0, 3.0, 1.0, 3.0, 5.0, 3.0])
    a, b, c = seeded_ranks(counts, 0), seeded_ranks(counts, 0), seeded_ranks(counts, 1)
    assert np.array_equal(a, b)
    assert sorted(a) == list(range(8))
    assert set(a[counts == 5]) == {6, 7} and a[4] == 0  # strictly larger counts always rank higher
    tied = counts == 3
    orders = {tuple(np.argsort(seeded_ranks(counts, s)[tied])) for s in range(10)}
    assert len(orders) > 3  # different seeds, different orders among the tied items
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epsilon": 1.0, "cap": 0}, ConfigError, "cap"),
    ({"epsilon": 1.0, "cap": -3}, ConfigError, "cap"),
    ({"epsilon": 1.0, "cap": 2.5}, ConfigError, "cap"),
    ({"epsilon": 0.0}, PrivacyError, "epsilon must be > 0"),
    ({"epsilon": -1.0}, PrivacyError, "epsilon must be > 0"),
    ({"epsilon": float("nan")}, PrivacyError, "epsilon must be > 0"),
    ({"epsilon": 1.0, "aggregator": "secagg++"}, ConfigError, "secagg"),
])
def test_bad_input_is_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        DPPopularityConfig(**kwargs)


def test_scores_before_fit_are_refused():
    with pytest.raises(ConfigError, match="fit"):
        DPPopularity(DPPopularityConfig(epsilon=1.0)).scores(np.array([0]))
