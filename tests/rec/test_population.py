"""The synthetic population: seeded, and shaped like the statistics it is fitted to."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import ConfigError
from secagg.rec.synthetic import ML100K_STATS, PopulationStats, make_population, make_synthetic

USERS = 1000


@pytest.fixture(scope="module")
def population():
    return make_population(USERS, seed=1, chunk=500, calibration_users=500)


def test_seeded_and_chunking_independent_of_count(population):
    again = make_population(USERS, seed=1, chunk=500, calibration_users=500)
    assert np.array_equal(again.users, population.users) and np.array_equal(again.items, population.items)
    other = make_population(USERS, seed=2, chunk=1000)
    assert not np.array_equal(other.items[:100], population.items[:100])


def test_items_per_user_match_the_quantiles(population):
    per_user = np.bincount(population.users)
    assert population.n_users == USERS and 0.9 * ML100K_STATS.n_items <= population.n_items <= ML100K_STATS.n_items
    q = np.quantile(per_user, [0.1, 0.5, 0.9])
    want = np.asarray(ML100K_STATS.user_quantiles)[[2, 10, 18]]
    assert np.all(np.abs(np.log(q / want)) < 0.15), (q, want)
    assert per_user.min() >= ML100K_STATS.user_quantiles[0] - 1


def test_item_popularity_has_the_long_tail(population):
    counts = np.sort(np.bincount(population.items, minlength=population.n_items))[::-1]
    share = counts / counts.sum()
    want = ML100K_STATS.popularity()
    top = int(0.1 * len(counts))
    assert share[:top].sum() == pytest.approx(want[:top].sum(), abs=0.08)  # ML-100K: 0.43
    # the head-to-median ratio of a long tail (within a factor of 2 of the profile's)
    ratio, want_ratio = share[0] / share[len(share) // 2], want[0] / want[len(want) // 2]
    assert 0.5 < ratio / want_ratio < 2.0


def test_users_pick_items_that_match_their_taste():
    """Low-rank structure: a user's items align with its factors (taste > 0), not with taste = 0."""
    def alignment(taste):
        data, users, items = make_population(300, seed=3, taste=taste, calibration_users=200, with_factors=True)
        return float(np.mean(np.einsum("nk,nk->n", users[data.users], items[data.items])))

    assert alignment(1.0) > 0.2
    assert abs(alignment(0.0)) < 0.05


def test_stats_fit_to_user_data_round_trip():
    data = make_synthetic(n_users=200, n_items=150, seed=4)
    stats = PopulationStats.from_interactions(data)
    assert stats.n_items == 150 and stats.users == 200
    made = make_population(500, stats=stats, seed=0)
    assert made.n_items <= 150 and made.n_users == 500


@pytest.mark.parametrize("kwargs", [
    {"n_items": 5}, {"user_quantiles": (1.0,) * 20}, {"user_quantiles": tuple(range(21, 0, -1))},
    {"popularity_ranks": (2, 3), "popularity_counts": (3.0, 2.0)},
    {"popularity_counts": (1.0,) + ML100K_STATS.popularity_counts[1:]},
])
def test_bad_stats(kwargs):
    base = dict(n_items=ML100K_STATS.n_items, users=943, user_quantiles=ML100K_STATS.user_quantiles,
                popularity_ranks=ML100K_STATS.popularity_ranks, popularity_counts=ML100K_STATS.popularity_counts)
    with pytest.raises(ConfigError):
        PopulationStats(**{**base, **kwargs})


@pytest.mark.parametrize("kwargs", [{"n_users": 1}, {"factors": 0}, {"taste": -1.0}, {"calibration_steps": -1}])
def test_bad_population_settings(kwargs):
    with pytest.raises(ConfigError):
        make_population(**{"n_users": 10, **kwargs})
