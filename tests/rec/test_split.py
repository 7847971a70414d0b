"""Leave-one-out by time with the explicit item-id tie rule, optional validation item."""

from __future__ import annotations

import numpy as np

from secagg.rec.data import from_arrays
from secagg.rec.split import leave_one_out


def test_latest_item_is_test_and_ties_break_by_item_id():
    # user 0: items 5 (t=1), 7 (t=3), 6 (t=3) -> tie at t=3 broken by item id: 7 is later.
    # user 1: a single interaction -> no test item, kept for training.
    data = from_arrays(np.array([0, 0, 0, 1]), np.array([5, 7, 6, 5]), timestamps=np.array([1, 3, 3, 9]))
    split = leave_one_out(data, ties="item-id")
    labels = data.item_labels
    assert labels[split.test_items[0]] == 7
    assert split.test_items[1] == -1
    assert sorted(labels[split.train.items_of(0)]) == [5, 6]
    assert list(labels[split.train.items_of(1)]) == [5]
    assert (split.validation_items == -1).all()


def test_validation_item_is_second_latest():
    data = from_arrays(np.zeros(4, int), np.array([1, 2, 3, 4]), timestamps=np.array([4, 3, 2, 1]))
    split = leave_one_out(data, validation=True)
    assert data.item_labels[split.test_items[0]] == 1
    assert data.item_labels[split.validation_items[0]] == 2
    assert sorted(data.item_labels[split.train.items_of(0)]) == [3, 4]
    known = split.known_items()
    assert known.items_of(0).size == 4


def test_repeated_item_counts_once_at_latest_time():
    data = from_arrays(np.zeros(3, int), np.array([1, 2, 1]), timestamps=np.array([1, 2, 3]))
    split = leave_one_out(data)
    assert data.item_labels[split.test_items[0]] == 1
    assert list(data.item_labels[split.train.items_of(0)]) == [2]


def test_no_test_item_leaks_into_training(small_split):
    for user in np.flatnonzero(small_split.test_items >= 0):
        assert small_split.test_items[user] not in small_split.train.items_of(user)


def test_ml100k_split_sizes(ml100k):
    from secagg.rec.data import load_ml100k

    split = leave_one_out(load_ml100k(ml100k))
    assert (split.test_items >= 0).sum() == 943
    assert split.train.nnz == 100_000 - 943
