"""Leave-one-out ties: a seeded random choice by default, the item-id rule on request."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import ConfigError
from secagg.rec.data import from_arrays
from secagg.rec.split import leave_one_out

TIED = 6  # items per user at the latest second


def tied_data(n_users: int = 200):
    """Each user: one early item (t=0) and TIED items all at t=10, item ids 1..TIED."""
    users = np.repeat(np.arange(n_users), TIED + 1)
    items = np.tile(np.arange(TIED + 1), n_users)
    stamps = np.tile(np.r_[0, np.full(TIED, 10)], n_users)
    return from_arrays(users, items, timestamps=stamps)


def held_labels(data, split) -> np.ndarray:
    return data.item_labels[split.test_items]


def test_default_is_seeded_random_and_recorded():
    data = tied_data()
    split = leave_one_out(data)
    assert (split.ties, split.tie_seed) == ("random", 0)
    assert split.protocol()["ties"] == "random" and split.protocol()["tie_seed"] == 0
    held = held_labels(data, split)
    assert set(held) <= set(range(1, TIED + 1))  # always one of the tied latest items, never item 0
    # Uniform over the tied items: every one is picked, none far more often than 1/TIED (200 users).
    counts = np.bincount(held, minlength=TIED + 1)[1:]
    assert counts.min() > 0 and counts.max() < 200 * 0.4


def test_same_seed_same_split_and_different_seeds_differ():
    data = tied_data()
    a, b = leave_one_out(data, tie_seed=7), leave_one_out(data, tie_seed=7)
    assert np.array_equal(a.test_items, b.test_items)
    assert np.array_equal(a.train.indices, b.train.indices)
    c = leave_one_out(data, tie_seed=8)
    differs = np.mean(held_labels(data, a) != held_labels(data, c))
    assert differs > 0.5  # two independent picks among 6 agree with probability 1/6


def test_item_id_rule_is_the_old_one():
    data = tied_data(10)
    split = leave_one_out(data, ties="item-id")
    assert (held_labels(data, split) == TIED).all()  # the largest id counts as the latest
    assert split.protocol()["ties"] == "item-id" and split.tie_seed is None


def test_random_ties_never_pick_an_earlier_item_and_validation_is_second():
    data = from_arrays(np.zeros(4, int), np.array([1, 2, 3, 4]), timestamps=np.array([1, 2, 3, 3]))
    for seed in range(20):
        split = leave_one_out(data, validation=True, tie_seed=seed)
        pair = {data.item_labels[split.test_items[0]], data.item_labels[split.validation_items[0]]}
        assert pair == {3, 4}
        assert list(data.item_labels[split.train.items_of(0)]) == [1, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({"ties": "latest"}, "tie rule"),
    ({"ties": "random", "tie_seed": -1}, "tie_seed"),
    ({"ties": "item-id", "tie_seed": 3}, "only applies"),
])
def test_bad_tie_options_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        leave_one_out(tied_data(3), **kwargs)


def test_ml100k_random_ties_change_some_held_out_items(ml100k):
    from secagg.rec.data import load_ml100k

    data = load_ml100k(ml100k)
    by_id, rand = leave_one_out(data, ties="item-id"), leave_one_out(data)
    assert (rand.test_items >= 0).sum() == 943
    changed = np.mean(by_id.test_items != rand.test_items)
    assert 0.1 < changed < 0.44  # only users with tied latest items can change
