"""Leave-one-out split by time: each user's latest interaction is the test item.

Several items can share a user's latest timestamp (44% of MovieLens 100K users have more than one
item at their latest second). How that tie is broken decides which item is held out:

* ``ties="random"`` (default): a seeded uniformly random choice among the tied items
  (``tie_seed``, default 0), so the held-out item carries no systematic bias;
* ``ties="item-id"``: the larger item index counts as later (the rule of earlier versions; it
  biases the held-out item towards items that happen to have large ids).

With ``validation=True`` the second-latest interaction (ties broken by the same rule) is held out
as a validation item for tuning. Users with too few interactions keep all of them in training and
get no test (or validation) item (marked ``-1``). :meth:`Split.protocol` describes the rule for
``metrics.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_choice
from ..errors import ConfigError, DataError
from .data import Interactions, UserItems

TIE_RULES = ("random", "item-id")
DEFAULT_TIE_SEED = 0


@dataclass(frozen=True)
class Split:
    """Training interactions plus one held-out item per user (``-1`` where there is none)."""

    train: UserItems
    test_items: np.ndarray  # int64, per user
    validation_items: np.ndarray  # int64, per user; all -1 when no validation split was asked for
    ties: str = "item-id"
    tie_seed: int | None = None  # the seed of the random tie rule (None for "item-id")

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

    def protocol(self) -> dict[str, Any]:
        """The split rule, for ``metrics.json``: held-out items, tie rule and its seed."""
        return {"rule": "leave-one-out by time (each user's latest item is the test item)",
                "validation": bool((self.validation_items >= 0).any()),
                "ties": self.ties, "tie_seed": self.tie_seed}


def _tie_keys(ties: str, tie_seed: int | None, items: np.ndarray) -> tuple[np.ndarray, int | None]:
    """The secondary sort key among items at the same time, and the seed actually used."""
    check_choice("tie rule (ties)", ties, TIE_RULES, error=ConfigError)
    if ties == "item-id":
        if tie_seed is not None:
            raise ConfigError("tie_seed only applies to ties='random'; drop it or use ties='random'")
        return items, None
    seed = DEFAULT_TIE_SEED if tie_seed is None else tie_seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"tie_seed must be an int >= 0, got {seed!r}")
    return np.random.default_rng(int(seed)).random(len(items)), int(seed)


def leave_one_out(data: Interactions, *, validation: bool = False, ties: str = "random",
                  tie_seed: int | None = None) -> Split:
    """Hold out each user's latest interaction (and the one before it when ``validation``).

    ``ties``: ``"random"`` (seeded by ``tie_seed``, default 0) or ``"item-id"``; see the module doc.
    The same data, rule and seed always give the same split.
    """
    if len(data) == 0:
        raise DataError("cannot split an empty data set")
    # Deduplicate (user, item): an item counts once, at its latest time.
    order = np.lexsort((data.timestamps, data.items, data.users))
    users, items, stamps = data.users[order], data.items[order], data.timestamps[order]
    last = np.ones(len(users), dtype=bool)
    last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    users, items, stamps = users[last], items[last], stamps[last]
    # Order each user's distinct items by (time, tie key): the last one is the latest.
    tie_key, seed = _tie_keys(ties, tie_seed, items)
    order = np.lexsort((tie_key, stamps, users))
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
    return Split(train=train, test_items=test, validation_items=val, ties=ties, tie_seed=seed)
