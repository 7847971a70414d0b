"""A DP popularity prior for federated MF: score = learned part + weight x prior, tail items on the prior.

One DP popularity release (:mod:`secagg.rec.dp_popularity`: an epsilon-DP capped histogram of item
counts, one round with every user, no amplification) is made before the federated rounds. It serves
two purposes:

* **prior**: every item's score gets ``weight * prior_i`` with ``prior_i = log1p(max(count_i, 0)) /
  max_j log1p(max(count_j, 0))`` (in [0, 1]; 0 for every item if no count is positive);
* **head items** (``head_items = K > 0``): only the K items with the largest noisy counts (ties in a
  seeded random order) have learned factors and biases; the other items' factors and biases stay
  0, so they are ranked by the prior alone. The clients' updates, and so the DP noise, cover only
  the K head items.

Both use the noisy counts only (post-processing of the release). The release's mechanism is composed
into the run's accounting (:attr:`secagg.dp.DPConfig.prior_releases`): the run's epsilon covers the
prior and every round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_float, check_int
from ..errors import ConfigError, PrivacyError
from .dp_popularity import DEFAULT_CAP, DPPopularity, DPPopularityConfig, seeded_ranks


@dataclass(frozen=True)
class PriorConfig:
    """The DP popularity release (its own ``epsilon``; ``math.inf``: exact counts), its weight in
    the scores and how many head items learn factors (0: all)."""

    epsilon: float
    weight: float = 0.3  # the better of 0.3 and 1 on ML-100K's validation split (docs/dp.md)
    cap: int = DEFAULT_CAP
    head_items: int = 0

    def __post_init__(self) -> None:
        eps = self.epsilon
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or math.isnan(eps) or eps <= 0:
            raise PrivacyError(f"the prior's epsilon must be > 0 (math.inf for exact counts), got {eps!r}")
        check_float("prior weight", self.weight, lo=0.0, error=ConfigError)
        check_int("prior cap (items each user contributes at most)", self.cap, lo=1, error=ConfigError)
        check_int("head items (0: every item learns factors)", self.head_items, lo=0, error=ConfigError)

    def popularity_config(self, *, delta: float | None, accountant: str, bits: int, aggregator: str,
                          seed: int) -> DPPopularityConfig:
        """The DP popularity release this prior makes."""
        return DPPopularityConfig(epsilon=self.epsilon, cap=self.cap, delta=delta, aggregator=aggregator,
                                  accountant=accountant, bits=bits, seed=seed)


def release_mechanism(prior: PriorConfig, *, num_users: int, n_items: int, delta: float,
                      accountant: str = "skellam", bits: int = 32, aggregator: str = "plain"
                      ) -> tuple[float, float, float]:
    """``(central_variance, l2_sensitivity, l1_sensitivity)`` of the prior's release (for
    :attr:`secagg.dp.DPConfig.prior_releases`); data-independent, so it is known before training."""
    if math.isinf(prior.epsilon):
        raise PrivacyError("a prior with epsilon = inf has no noise: it cannot be part of a DP run")
    pop = DPPopularity(prior.popularity_config(delta=delta, accountant=accountant, bits=bits,
                                               aggregator=aggregator, seed=0))
    return pop.mechanism(num_users, n_items)


def prior_scores(counts: np.ndarray) -> np.ndarray:
    """``log1p(max(counts, 0))`` scaled to [0, 1] by its maximum (all 0 if no count is positive)."""
    logs = np.log1p(np.maximum(np.asarray(counts, dtype=np.float64), 0.0))
    top = float(logs.max()) if logs.size else 0.0
    return logs / top if top > 0 else logs


def head_items(counts: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sorted indices of the ``k`` items with the largest counts (equal counts in seeded random order)."""
    counts = np.asarray(counts, dtype=np.float64)
    check_int("head items", k, lo=1, hi=counts.size, error=ConfigError)
    ranks = seeded_ranks(counts, seed)
    return np.sort(np.argsort(-ranks, kind="stable")[:k])


def head_coordinates(items: np.ndarray, n_items: int, factors: int) -> np.ndarray:
    """Indices into the flattened item model (factors row-major, then biases) of ``items``' rows
    and biases: what the clients upload when only these items learn."""
    items = np.asarray(items, dtype=np.int64)
    rows = (items[:, None] * factors + np.arange(factors)[None, :]).ravel()
    return np.concatenate([rows, n_items * factors + items])


@dataclass
class FittedPrior:
    """The released noisy counts and what the trainer derives from them."""

    counts: np.ndarray
    scores: np.ndarray  # weight * prior_scores(counts)
    head: np.ndarray | None  # head item indices, or None (every item learns)
    privacy: dict[str, Any] | None = None


def fit_prior(prior: PriorConfig, popularity: DPPopularityConfig, train: Any, **protocol_options: Any
              ) -> FittedPrior:
    """Make the release on ``train`` (a :class:`~secagg.rec.data.UserItems`) and derive the prior
    (``epsilon = inf``: the exact item counts, no release)."""
    if prior.head_items > train.n_items:
        raise ConfigError(f"head_items ({prior.head_items}) exceeds the {train.n_items} items")
    if math.isinf(prior.epsilon):  # non-private: the exact, uncapped counts
        return from_counts(prior, train.item_counts().astype(np.float64), popularity.seed,
                           {"epsilon_spent": math.inf, "exact_counts": True})
    model = DPPopularity(popularity).fit(train, **protocol_options)
    assert model.counts is not None
    return from_counts(prior, model.counts, popularity.seed, model.privacy)


def from_counts(prior: PriorConfig, counts: np.ndarray, seed: int, privacy: dict[str, Any] | None = None
                ) -> FittedPrior:
    """The prior derived from released (or restored) ``counts``."""
    counts = np.asarray(counts, dtype=np.float64)
    head = head_items(counts, prior.head_items, seed) if prior.head_items else None
    return FittedPrior(counts=counts, scores=prior.weight * prior_scores(counts), head=head, privacy=privacy)
