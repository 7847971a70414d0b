"""Matrix factorisation with item biases, trained with the BPR ranking loss.

``score(u, i) = user_u . item_i + bias_i``. The item factors and biases form the global model
(:class:`ItemModel`); user vectors belong to whoever trains them (a client, or the centralized
baseline). :func:`bpr_step` is the one vectorised update both of them use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ShapeError

DTYPE = np.float32


@dataclass
class ItemModel:
    """The global model: item factors ``(n_items, factors)`` and item biases ``(n_items,)``."""

    factors: np.ndarray
    biases: np.ndarray
    version: int = 0

    @staticmethod
    def initial(n_items: int, n_factors: int, rng: np.random.Generator, scale: float = 0.1) -> ItemModel:
        if n_items < 1 or n_factors < 1:
            raise ConfigError("n_items and factors must be >= 1")
        return ItemModel(factors=rng.normal(0.0, scale, (n_items, n_factors)).astype(DTYPE),
                         biases=np.zeros(n_items, DTYPE))

    @property
    def n_items(self) -> int:
        return int(self.factors.shape[0])

    @property
    def n_factors(self) -> int:
        return int(self.factors.shape[1])

    @property
    def size(self) -> int:
        """Length of the flattened parameter vector."""
        return self.n_items * (self.n_factors + 1)

    def to_vector(self) -> np.ndarray:
        return np.concatenate([self.factors.ravel(), self.biases])

    def add_vector(self, delta: np.ndarray) -> None:
        """Add a flattened update in place."""
        if delta.shape != (self.size,):
            raise ShapeError(f"update has shape {delta.shape}; the model needs ({self.size},)")
        k = self.n_items * self.n_factors
        self.factors += delta[:k].reshape(self.factors.shape).astype(DTYPE)
        self.biases += delta[k:].astype(DTYPE)

    def copy(self) -> ItemModel:
        return ItemModel(self.factors.copy(), self.biases.copy(), self.version)

    def scores(self, user_vectors: np.ndarray) -> np.ndarray:
        """Scores of every item for one user vector ``(k,)`` or a batch ``(n, k)``."""
        return user_vectors @ self.factors.T + self.biases


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def bpr_step(users: np.ndarray, items: ItemModel, u: np.ndarray, i: np.ndarray, j: np.ndarray, *,
             lr: float, reg: float, update_items: bool = True) -> float:
    """One mini-batch BPR ascent step on ``ln sigmoid(x_ui - x_uj)`` with L2 regularisation.

    ``users`` is the user-vector matrix rows ``u`` index into (a client passes a 1-row matrix).
    Updates ``users`` (and ``items`` unless ``update_items`` is False) in place; returns the mean
    BPR log-likelihood of the batch before the step.
    """
    pu = users[u]
    qi = items.factors[i]
    qj = items.factors[j]
    diff = qi - qj
    x = np.einsum("nk,nk->n", pu, diff) + items.biases[i] - items.biases[j]
    g = sigmoid(-x).astype(DTYPE)[:, None]
    np.add.at(users, u, lr * (g * diff - reg * pu))
    if update_items:
        gu = g * pu
        np.add.at(items.factors, i, lr * (gu - reg * qi))
        np.add.at(items.factors, j, lr * (-gu - reg * qj))
        gb = lr * g[:, 0]
        np.add.at(items.biases, i, gb - lr * reg * items.biases[i])
        np.add.at(items.biases, j, -gb - lr * reg * items.biases[j])
    return float(np.mean(np.log(sigmoid(x) + 1e-12)))


def sample_negatives(rng: np.random.Generator, n: int, n_items: int, forbidden: np.ndarray) -> np.ndarray:
    """``n`` items drawn uniformly from the items not in ``forbidden`` (a sorted index array)."""
    if len(forbidden) >= n_items:
        raise ConfigError("a user interacted with every item; no negatives can be sampled")
    out = rng.integers(0, n_items, n)
    for _ in range(100):
        bad = np.isin(out, forbidden, assume_unique=False)
        if not bad.any():
            return out
        out[bad] = rng.integers(0, n_items, int(bad.sum()))
    # Very dense user: draw from the explicit complement.
    allowed = np.setdiff1d(np.arange(n_items), forbidden)
    bad = np.isin(out, forbidden)
    out[bad] = rng.choice(allowed, int(bad.sum()))
    return out
