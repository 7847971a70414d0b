"""A federated client: one user's device. Its user vector and its interactions never leave it.

Per round it receives the global :class:`ItemModel`, trains locally for E epochs of BPR (its own
positives against negatives it samples itself), and uploads only a **dense** item update — every
row of the item matrix, so the upload's shape says nothing about which items it rated — clipped to
an L2 norm. It also evaluates and recommends locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from . import metrics
from .model import DTYPE, ItemModel, bpr_step, sample_negatives


@dataclass(frozen=True)
class LocalConfig:
    """Local training settings every client of a run uses."""

    epochs: int = 1
    lr: float = 0.05
    reg: float = 0.001
    batch_size: int = 32
    negatives: int = 1
    clip_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.negatives < 1:
            raise ConfigError("local epochs, batch_size and negatives must be >= 1")
        if not (self.lr > 0 and self.reg >= 0 and self.clip_norm > 0):
            raise ConfigError("local lr and clip_norm must be > 0 and reg >= 0")


@dataclass(frozen=True)
class ClientUpdate:
    """What a client hands to the aggregator, plus local diagnostics that stay on the device."""

    vector: np.ndarray  # dense, clipped item-model update (float32)
    norm: float  # L2 norm before clipping
    loss: float  # mean BPR log-likelihood over the local steps


class RecClient:
    """A simulated device holding one user's interactions and user vector."""

    def __init__(self, client_id: int, train_items: np.ndarray, n_items: int, n_factors: int,
                 seed: np.random.SeedSequence, *, init_scale: float = 0.1) -> None:
        items = np.unique(np.asarray(train_items, dtype=np.int64))
        if len(items) == 0:
            raise InputError(f"client {client_id} has no training interactions")
        if items[0] < 0 or items[-1] >= n_items:
            raise InputError(f"client {client_id} has item indices outside [0, {n_items})")
        self.client_id = int(client_id)
        self._items = items
        self._n_items = int(n_items)
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._user = self._rng.normal(0.0, init_scale, (1, n_factors)).astype(DTYPE)

    @property
    def n_interactions(self) -> int:
        return int(len(self._items))

    # --- training -----------------------------------------------------------------------
    def _local_epochs(self, model: ItemModel, user: np.ndarray, cfg: LocalConfig, epochs: int,
                      update_items: bool, rng: np.random.Generator) -> float:
        zeros = None
        losses = []
        for _ in range(epochs):
            pos = np.repeat(rng.permutation(self._items), cfg.negatives)
            neg = sample_negatives(rng, len(pos), self._n_items, self._items)
            if zeros is None or len(zeros) < len(pos):
                zeros = np.zeros(len(pos), dtype=np.int64)
            for start in range(0, len(pos), cfg.batch_size):
                stop = start + cfg.batch_size
                losses.append(bpr_step(user, model, zeros[: len(pos[start:stop])], pos[start:stop],
                                       neg[start:stop], lr=cfg.lr, reg=cfg.reg, update_items=update_items))
        return float(np.mean(losses))

    def train(self, model: ItemModel, cfg: LocalConfig, coords: np.ndarray | None = None) -> ClientUpdate:
        """Local training; returns the clipped dense update of the item model (only its
        ``coords`` entries, clipped together, when given: e.g. the head items' rows)."""
        local = model.copy()
        loss = self._local_epochs(local, self._user, cfg, cfg.epochs, update_items=True, rng=self._rng)
        delta = local.to_vector() - model.to_vector()
        if coords is not None:
            delta = delta[coords]
        norm = float(np.linalg.norm(delta))
        if norm > cfg.clip_norm:
            delta *= cfg.clip_norm / norm
        return ClientUpdate(vector=delta.astype(DTYPE, copy=False), norm=norm, loss=loss)

    def personalized_user(self, model: ItemModel, cfg: LocalConfig, epochs: int) -> np.ndarray:
        """The user vector after ``epochs`` of local fine-tuning against ``model`` (not stored).

        Uses its own generator (seeded by client id and model version), so evaluating never changes
        the device's training randomness.
        """
        user = self._user.copy()
        if epochs > 0:
            rng = np.random.default_rng([self.client_id, model.version])
            self._local_epochs(model, user, cfg, epochs, update_items=False, rng=rng)
        return user

    # --- local use of the model -----------------------------------------------------------
    def evaluate(self, model: ItemModel, target: int, negatives: np.ndarray, *, k: int = 10,
                 cfg: LocalConfig | None = None, finetune_epochs: int = 0,
                 offset: np.ndarray | None = None) -> np.ndarray:
        """(HR@k, NDCG@k, sampled HR@k, sampled NDCG@k) of this user's held-out item; ``offset``
        (one value per item, e.g. a popularity prior) is added to the model's scores."""
        user = self._user if finetune_epochs == 0 else self.personalized_user(model, cfg or LocalConfig(),
                                                                                finetune_epochs)
        scores = model.scores(user)
        if offset is not None:
            scores = scores + offset
        targets = np.array([target])
        hit, ndcg = metrics.full_ranking(scores, targets, [self._items], k)
        s_hit, s_ndcg = metrics.sampled(scores, targets, negatives[None, :], k)
        return np.array([hit[0], ndcg[0], s_hit[0], s_ndcg[0]])

    def recommend_scores(self, model: ItemModel, offset: np.ndarray | None = None) -> np.ndarray:
        """This user's score for every item (plus ``offset``, if given), computed on the device."""
        scores = model.scores(self._user[0]).astype(np.float64)
        return scores if offset is None else scores + offset

    # --- checkpointing (the device's own state) --------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"user": self._user.copy(), "rng": self._rng.bit_generator.state}

    def load_state(self, state: dict[str, Any]) -> None:
        user = np.asarray(state["user"], dtype=DTYPE)
        if user.shape != self._user.shape:
            raise InputError(f"client {self.client_id}: saved user vector has shape {user.shape}")
        self._user = user.copy()
        self._rng.bit_generator.state = state["rng"]
