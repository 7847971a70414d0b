"""Leave-one-out split by time: each user's latest interaction is the test item.

Interactions are ordered per user by (timestamp, item id), so ties in time are broken by item id
(the larger id counts as later). With ``validation=True`` the second-latest interaction is held out
as a validation item for tuning. Users with too few interactions keep all of them in training and
get no test (or validation) item (marked ``-1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .data import Interactions, UserItems


@dataclass(frozen=True)
class Split:
    """Training interactions plus one held-out item per user (``-1`` where there is none)."""

    train: UserItems
    test_items: np.ndarray  # int64, per user
    validation_items: np.ndarray  # int64, per user; all -1 when no validation split was asked for

    @property
    def n_users(self) -> int:
        return self.train.n_users

    @property
    def n_items(self) -> int:
        return self.train.n_items

    def known_items(self) -> UserItems:
        """Every item each user interacted with (train, validation and test)."""
        users = [self.train.user_index()]
        items = [self.train.indices]
        for held in (self.test_items, self.validation_items):
            has = held >= 0
            users.append(np.flatnonzero(has))
            items.append(held[has])
        return UserItems.from_pairs(np.concatenate(users), np.concatenate(items), self.n_users, self.n_items)


def leave_one_out(data: Interactions, *, validation: bool = False) -> Split:
    """Hold out each user's latest interaction (and the one before it when ``validation``)."""
    if len(data) == 0:
        raise DataError("cannot split an empty data set")
    # Deduplicate (user, item): an item counts once, at its latest time.
    order = np.lexsort((data.timestamps, data.items, data.users))
    users, items, stamps = data.users[order], data.items[order], data.timestamps[order]
    last = np.ones(len(users), dtype=bool)
    last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    users, items, stamps = users[last], items[last], stamps[last]
    # Order each user's distinct items by (time, item id).
    order = np.lexsort((items, stamps, users))
    users, items = users[order], items[order]
    n_users, n_items = data.n_users, data.n_items
    counts = np.bincount(users, minlength=n_users)
    ends = np.cumsum(counts)
    held_out = 2 if validation else 1
    eligible = counts > held_out  # keep at least one training interaction
    test = np.full(n_users, -1, dtype=np.int64)
    val = np.full(n_users, -1, dtype=np.int64)
    test[eligible] = items[ends[eligible] - 1]
    keep = np.ones(len(users), dtype=bool)
    keep[ends[eligible] - 1] = False
    if validation:
        val[eligible] = items[ends[eligible] - 2]
        keep[ends[eligible] - 2] = False
    train = UserItems.from_pairs(users[keep], items[keep], n_users, n_items)
    return Split(train=train, test_items=test, validation_items=val)
