"""Reference points: the centralized model (same MF + BPR, all data in one place) and popularity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .data import UserItems
from .model import DTYPE, ItemModel, bpr_step


@dataclass(frozen=True)
class CentralizedConfig:
    """Defaults from a validation sweep on ML-100K (docs/recommender-evaluation.md): with 120 epochs
    and reg 0.01 this baseline matches the ``implicit`` library's BPR at the same 32 factors."""

    factors: int = 32
    epochs: int = 120
    lr: float = 0.05
    reg: float = 0.01
    batch_size: int = 256
    init_scale: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.factors < 1 or self.epochs < 0 or self.batch_size < 1:
            raise ConfigError("factors and batch_size must be >= 1, epochs >= 0")
        if not (self.lr > 0 and self.reg >= 0 and self.init_scale > 0):
            raise ConfigError("lr and init_scale must be > 0, reg >= 0")


def _negatives(rng: np.random.Generator, users: np.ndarray, n_items: int, train_keys: np.ndarray) -> np.ndarray:
    """One uniformly drawn item per user that the user did not interact with in training."""
    neg = rng.integers(0, n_items, len(users))
    todo = np.arange(len(users))
    for _ in range(1000):
        keys = users[todo] * n_items + neg[todo]
        pos = np.searchsorted(train_keys, keys)
        hit = (pos < len(train_keys)) & (train_keys[np.minimum(pos, len(train_keys) - 1)] == keys)
        todo = todo[hit]
        if len(todo) == 0:
            return neg
        neg[todo] = rng.integers(0, n_items, len(todo))
    raise ConfigError("could not sample negatives: some users interacted with (almost) every item")


class CentralizedMF:
    """MF trained with mini-batch BPR on all training interactions in one place."""

    def __init__(self, config: CentralizedConfig | None = None) -> None:
        self.config = config or CentralizedConfig()
        self.items: ItemModel | None = None
        self.users: np.ndarray | None = None

    def fit(self, train: UserItems, *, callback: Callable[[int, CentralizedMF], None] | None = None,
            progress: bool = False) -> CentralizedMF:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        self.items = ItemModel.initial(train.n_items, cfg.factors, rng, cfg.init_scale)
        self.users = rng.normal(0.0, cfg.init_scale, (train.n_users, cfg.factors)).astype(DTYPE)
        u_all = train.user_index()
        i_all = train.indices
        keys = np.sort(u_all * train.n_items + i_all)
        epochs = range(cfg.epochs)
        if progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc="centralized", unit="epoch")
        for epoch in epochs:
            order = rng.permutation(len(u_all))
            u, i = u_all[order], i_all[order]
            j = _negatives(rng, u, train.n_items, keys)
            for start in range(0, len(u), cfg.batch_size):
                sl = slice(start, start + cfg.batch_size)
                bpr_step(self.users, self.items, u[sl], i[sl], j[sl], lr=cfg.lr, reg=cfg.reg)
            if callback is not None:
                callback(epoch + 1, self)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        if self.items is None or self.users is None:
            raise ConfigError("fit the model first")
        return self.items.scores(self.users[np.asarray(users)])


class Popularity:
    """Scores every item by its number of training interactions (the same for every user)."""

    def __init__(self) -> None:
        self.counts: np.ndarray | None = None

    def fit(self, train: UserItems) -> Popularity:
        self.counts = train.item_counts().astype(np.float64)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        if self.counts is None:
            raise ConfigError("fit the model first")
        # A vanishing item-index term breaks ties deterministically (lower index first).
        tie = -np.arange(len(self.counts)) * 1e-9
        return np.broadcast_to(self.counts + tie, (len(users), len(self.counts)))
