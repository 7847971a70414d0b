"""What a networked client computes locally: a dense item-model update from the global model."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import ConfigError
from ..rec.client import LocalConfig, RecClient
from ..rec.model import ItemModel


class LocalTrainer(Protocol):
    def train(self, model: ItemModel, config: LocalConfig) -> np.ndarray:
        """The clipped dense float32 update of the item model."""


class RecTrainer:
    """Local BPR training of one user's device (:class:`secagg.rec.client.RecClient`)."""

    def __init__(self, items: np.ndarray, n_items: int, factors: int, seed: int) -> None:
        self.n_items, self.factors = n_items, factors
        self.client = RecClient(seed, items, n_items, factors, np.random.SeedSequence(seed))

    @staticmethod
    def from_dataset(spec: str, user: int, *, factors: int, data_seed: int = 0) -> RecTrainer:
        """User ``user``'s training interactions of the leave-one-out split of data set ``spec``."""
        from ..rec.datasets import load_dataset
        from ..rec.split import leave_one_out

        split = leave_one_out(load_dataset(spec, seed=data_seed))
        if not 0 <= user < split.n_users:
            raise ConfigError(f"user must be in [0, {split.n_users}) for data set {spec!r}")
        return RecTrainer(split.train.items_of(user), split.n_items, factors,
                          seed=data_seed * 1_000_003 + user)

    def train(self, model: ItemModel, config: LocalConfig) -> np.ndarray:
        if (model.n_items, model.n_factors) != (self.n_items, self.factors):
            raise ConfigError(f"the server's model is {model.n_items} items x {model.n_factors} "
                              f"factors; this client has data for {self.n_items} x {self.factors}")
        return self.client.train(model, config).vector


def dataset_items(spec: str, data_seed: int = 0) -> int:
    """The number of items of data set ``spec`` (what the server's model must cover)."""
    from ..rec.datasets import load_dataset

    return int(load_dataset(spec, seed=data_seed).n_items)
