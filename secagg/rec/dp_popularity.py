"""DP popularity: an epsilon-DP histogram of item counts, summed by secure aggregation.

Every user with training data is one client. A client contributes a 0/1 vector over the items
with a one for at most ``cap`` of its items (a seeded uniformly random subset when it has more),
so one user changes the sum by at most L1 = ``cap`` and L2 = sqrt(``cap``). The vectors are summed
in **one** round with **every** client through :func:`secagg.dp.make_dp_aggregator` (distributed
Skellam noise inside the secure sum; ``aggregator="secagg+"`` by default, ``"plain"`` adds the
same noise but sums in the clear), whose ``DPConfig`` has ``clip_norm = sqrt(cap)`` (so clipping
never changes a contribution), ``rounds = 1`` and ``clients_per_round = num_users`` (sampling
probability 1). The released noisy count vector is then (epsilon, delta)-DP at user level under
add/remove-one-user adjacency, with **no amplification by sampling**: the epsilon holds against
the server, which sees who took part, as well as against anyone who sees the release.

The accountant is the one of ``DPConfig.accountant`` (default ``"skellam"``: the Skellam RDP of
one unsampled round, with the mechanism's integer-domain sensitivities: Delta2 is sqrt(cap) times
the scale plus the rounding's inflation, and Delta1 = min(Delta2^2, sqrt(d') Delta2) since the
randomized Hadamard rotation spreads the L1 = cap contribution over all d' coordinates).

Scores are the noisy counts (the same for every user); ties between equal counts are broken by a
seeded random order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._validate import check_choice, check_int
from ..errors import ConfigError, PrivacyError
from .data import UserItems

DEFAULT_CAP = 32
"""Default contribution cap: the best of a measured sweep on ML-100K at eps 1, within one sd at eps 8
(``benchmarks/bench_dp.py --cap-sweep``; figures in docs/recommender-evaluation.md)."""
AGGREGATORS = ("plain", "secagg", "secagg+")


@dataclass(frozen=True)
class DPPopularityConfig:
    """Target epsilon (``math.inf``: no noise), contribution cap and how the counts are summed."""

    epsilon: float
    cap: int = DEFAULT_CAP
    delta: float | None = None  # default: min(1 / users, 1e-5)
    aggregator: str = "secagg+"
    accountant: str = "skellam"
    bits: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        eps = self.epsilon
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or math.isnan(eps) or eps <= 0:
            raise PrivacyError(f"DP popularity epsilon must be > 0 (math.inf for no noise), got {eps!r}")
        check_int("DP popularity cap (items each user contributes at most)", self.cap, lo=1,
                  error=ConfigError)
        check_choice("DP popularity aggregator", self.aggregator, AGGREGATORS, error=ConfigError)
        check_int("seed", self.seed, lo=0, error=ConfigError)


def capped_contributions(train: UserItems, cap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(client users, 0/1 matrix): each user with training data marks at most ``cap`` of its items.

    Users with more than ``cap`` items keep a uniformly random subset (seeded by ``seed``).
    """
    check_int("cap", cap, lo=1, error=ConfigError)
    counts = train.counts()
    users = np.flatnonzero(counts > 0)
    owner = train.user_index()
    keys = np.random.default_rng(seed).random(train.nnz)
    order = np.lexsort((keys, owner))  # each user's items in a random order
    starts = np.repeat(train.indptr[:-1], counts)
    rank = np.empty(train.nnz, dtype=np.int64)
    rank[order] = np.arange(train.nnz) - starts
    chosen = rank < cap
    row_of_user = np.full(train.n_users, -1, dtype=np.int64)
    row_of_user[users] = np.arange(len(users))
    matrix = np.zeros((len(users), train.n_items), dtype=np.float64)
    matrix[row_of_user[owner[chosen]], train.indices[chosen]] = 1.0
    return users, matrix


def seeded_ranks(counts: np.ndarray, seed: int) -> np.ndarray:
    """Scores that order items by ``counts`` (0 = lowest), equal counts in a seeded random order."""
    counts = np.asarray(counts, dtype=np.float64)
    tie = np.random.default_rng(seed).random(counts.size)
    rank = np.empty(counts.size, dtype=np.float64)
    rank[np.lexsort((tie, counts))] = np.arange(counts.size)
    return rank


class DPPopularity:
    """Scores every item by its epsilon-DP noisy (capped) count; see the module doc."""

    def __init__(self, config: DPPopularityConfig) -> None:
        self.config = config
        self.counts: np.ndarray | None = None
        self.privacy: dict[str, Any] | None = None
        self._rank: np.ndarray | None = None

    def dp_config(self, num_users: int) -> Any:
        """The :class:`~secagg.dp.DPConfig` of the release over ``num_users`` clients: one round,
        every client, ``clip_norm = sqrt(cap)``."""
        from ..dp import DPConfig

        cfg = self.config
        return DPConfig(clip_norm=math.sqrt(cfg.cap), clients_per_round=num_users, num_users=num_users,
                        rounds=1, epsilon=cfg.epsilon, delta=cfg.delta, bits=cfg.bits,
                        accountant=cfg.accountant)

    def mechanism(self, num_users: int, n_items: int) -> tuple[float, float, float]:
        """``(central_variance, l2_sensitivity, l1_sensitivity)`` of the release when every one of
        ``num_users`` clients contributes (data-independent)."""
        from ..dp.aggregator import layout_for

        dp = self.dp_config(num_users)
        plan = dp.plan(n_items, layout_for(self.config.aggregator))
        m = dp.round_mechanism(plan.params)
        return (m.central_variance, m.l2_sensitivity, m.l1_sensitivity)

    def fit(self, train: UserItems, **protocol_options: Any) -> DPPopularity:
        """Run the one secure round; ``protocol_options`` go to :func:`secagg.dp.make_dp_aggregator`."""
        from ..dp import make_dp_aggregator

        cfg = self.config
        users, matrix = capped_contributions(train, cfg.cap, cfg.seed)
        if len(users) == 0:
            raise ConfigError("DP popularity needs at least one user with training data")
        n = len(users)
        aggregator = make_dp_aggregator(cfg.aggregator, self.dp_config(n), train.n_items, **protocol_options)
        try:
            result = aggregator.aggregate({int(u): row for u, row in zip(users, matrix)}, round_index=0)
        finally:
            aggregator.close()
        self.counts = np.asarray(result.total, dtype=np.float64)
        self._rank = seeded_ranks(self.counts, cfg.seed)
        plan = aggregator.plan
        self.privacy = {
            **plan.report(), "epsilon_target": cfg.epsilon, "epsilon_spent": aggregator.ledger.epsilon(),
            "cap": cfg.cap, "l1_contribution": cfg.cap, "l2_contribution": math.sqrt(cfg.cap),
            "clients": n, "contributors": len(result.included), "aggregator": cfg.aggregator,
            "guarantee": "user-level (add/remove one user), one release with every client "
                         "(sampling probability 1, no amplification): holds against the server too",
            "accounting": f"{plan.config.accountant} accountant: one round of the Skellam mechanism, "
                          "unsampled (no amplification), integer-domain sensitivities l2_sensitivity "
                          "and l1_sensitivity, converted to (epsilon, delta) by dp-accounting",
        }
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        """The noisy-count ranks (ties in a seeded random order), the same row for every user."""
        if self._rank is None:
            raise ConfigError("fit the model first")
        return np.broadcast_to(self._rank, (len(users), len(self._rank)))

    def describe(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "privacy": self.privacy}
