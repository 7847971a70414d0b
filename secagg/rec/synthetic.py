"""A built-in synthetic data set, so training runs on a fresh machine with no download.

Users and items get latent factors; items also get a long-tailed (Zipf-like) popularity. Each user
picks a log-normally distributed number of distinct items by sampling without replacement from
``softmax(user . item / temperature + log popularity)`` (Gumbel top-k), and the order of the picks
follows a slowly drifting taste so the latest interaction is predictable from the earlier ones.
numpy.random is used on purpose: this is simulated data, not key material.

:func:`make_population` generates a large population (e.g. 100,000 users) matching a data set's
summary statistics (:class:`PopulationStats`; ML-100K's are built in as :data:`ML100K_STATS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_float, check_int
from ..errors import ConfigError
from .data import Interactions, from_arrays


def make_synthetic(n_users: int = 300, n_items: int = 300, *, factors: int = 8,
                   mean_interactions: float = 25.0, popularity_exponent: float = 0.8,
                   temperature: float = 0.5, seed: int = 0) -> Interactions:
    """Generate implicit-feedback interactions with latent structure and long-tailed popularity."""
    if n_users < 2 or n_items < 10:
        raise ConfigError("synthetic data needs n_users >= 2 and n_items >= 10")
    if factors < 1 or mean_interactions < 3 or temperature <= 0:
        raise ConfigError("factors must be >= 1, mean_interactions >= 3 and temperature > 0")
    rng = np.random.default_rng(seed)
    user_f = rng.normal(0.0, 1.0, (n_users, factors)) / np.sqrt(factors)
    item_f = rng.normal(0.0, 1.0, (n_items, factors))
    ranks = rng.permutation(n_items) + 1
    log_pop = -popularity_exponent * np.log(ranks)
    logits = user_f @ item_f.T / temperature + log_pop
    counts = np.clip(rng.lognormal(np.log(mean_interactions), 0.5, n_users).astype(np.int64),
                     3, n_items // 2)
    gumbel = rng.gumbel(size=logits.shape)
    order = np.argsort(-(logits + gumbel), axis=1)  # a sample without replacement, best first
    users = np.repeat(np.arange(n_users), counts)
    position = np.concatenate([np.arange(c) for c in counts])
    items = order[users, position]
    # Timestamps: interactions later in a user's history are the ones the model scores highest,
    # perturbed, so the leave-one-out test item is learnable but not trivial.
    noise = rng.normal(0.0, 3.0, len(users))
    stamps = (1_000_000 + 10 * (counts[users] - position) + noise).astype(np.int64)
    ratings = rng.integers(1, 6, len(users)).astype(np.float32)
    return from_arrays(users, items, ratings, stamps, source=f"synthetic(seed={seed})")


# --- a population matching ML-100K's statistics -------------------------------------------------

@dataclass(frozen=True)
class PopulationStats:
    """Summary numbers a synthetic population is fitted to (never the data itself).

    ``user_quantiles``: items per user at the quantiles 0, 0.05, ..., 1 (21 values);
    ``popularity_ranks`` / ``popularity_counts``: an item popularity profile, the count of the item
    at each (1-based) popularity rank, for a population of ``users`` users; ``n_items``: catalogue size.
    """

    n_items: int
    users: int
    user_quantiles: tuple[float, ...]
    popularity_ranks: tuple[int, ...]
    popularity_counts: tuple[float, ...]

    def __post_init__(self) -> None:
        check_int("n_items", self.n_items, lo=10, error=ConfigError)
        check_int("users", self.users, lo=2, error=ConfigError)
        q = np.asarray(self.user_quantiles, dtype=np.float64)
        if q.shape != (21,) or np.any(np.diff(q) < 0) or q[0] < 1:
            raise ConfigError("user_quantiles: 21 non-decreasing values >= 1 (quantiles 0, 0.05, ..., 1)")
        r = np.asarray(self.popularity_ranks, dtype=np.float64)
        c = np.asarray(self.popularity_counts, dtype=np.float64)
        if r.shape != c.shape or len(r) < 2 or r[0] != 1 or np.any(np.diff(r) <= 0) or r[-1] > self.n_items \
                or np.any(c <= 0) or np.any(np.diff(c) > 0):
            raise ConfigError("popularity profile: increasing ranks from 1 (at most n_items) with positive, "
                              "non-increasing counts")

    @staticmethod
    def from_interactions(data: Interactions) -> PopulationStats:
        """Fit the summary numbers to a user-given data set (e.g. your copy of ML-100K)."""
        per_user = np.bincount(data.users, minlength=data.n_users)
        per_user = per_user[per_user > 0]
        per_item = np.sort(np.bincount(data.items, minlength=data.n_items))[::-1]
        ranks = sorted({*np.unique(np.geomspace(1, data.n_items, 16).round().astype(int)).tolist()})
        return PopulationStats(n_items=data.n_items, users=len(per_user),
                               user_quantiles=tuple(np.quantile(per_user, np.linspace(0, 1, 21)).tolist()),
                               popularity_ranks=tuple(ranks),
                               popularity_counts=tuple(np.maximum(per_item[np.array(ranks) - 1], 0.5).tolist()))

    def items_per_user(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws from the items-per-user distribution (log-linear between the quantiles)."""
        u = rng.random(n)
        logs = np.interp(u * 20, np.arange(21), np.log(np.asarray(self.user_quantiles)))
        return np.clip(np.round(np.exp(logs)).astype(np.int64), 1, self.n_items // 2)

    def popularity(self) -> np.ndarray:
        """The popularity profile at every rank 1..n_items (log-log interpolation), summing to 1."""
        ranks = np.arange(1, self.n_items + 1, dtype=np.float64)
        counts = np.exp(np.interp(np.log(ranks), np.log(np.asarray(self.popularity_ranks, np.float64)),
                                  np.log(np.asarray(self.popularity_counts, np.float64))))
        return counts / counts.sum()


ML100K_STATS = PopulationStats(
    n_items=1682, users=943,
    user_quantiles=(20, 21, 23, 26, 29, 33, 38, 43, 50, 57, 65, 75, 93, 108, 127.4, 148, 171.6, 205.4,
                    244.4, 310.6, 737),
    popularity_ranks=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1682),
    popularity_counts=(583, 509, 507, 452, 384, 301, 254, 191, 127, 64, 33, 15, 6, 2, 1))
"""MovieLens 100K's summary numbers (items per user at 21 quantiles, item counts at 15 popularity
ranks), computed once from u.data; the data itself is not shipped."""


def make_population(n_users: int = 100_000, *, stats: PopulationStats = ML100K_STATS, factors: int = 8,
                    taste: float = 1.0, calibration_users: int = 2000, calibration_steps: int = 4,
                    seed: int = 0, chunk: int = 4096, with_factors: bool = False) -> Any:
    """``n_users`` users over ``stats.n_items`` items matching ``stats``: items per user drawn from its
    quantiles; item popularity following its profile (per-item logit offsets calibrated by
    ``calibration_steps`` fixed-point steps on a ``calibration_users`` sample); and low-rank taste:
    user u picks its items without replacement from ``softmax(taste * user_u . item_i + offset_i)``
    (Gumbel top-k), with unit-variance ``factors``-dimensional factors, so personalisation matters
    more with a larger ``taste``. A user's history is its picks in a random order (distinct
    timestamps), so the held-out latest item is one more draw from the same taste, as a user's next
    item would be. Generated in ``chunk``-user blocks. ``with_factors``: return ``(data, user
    factors, item factors)`` (for checks of the latent structure)."""
    check_int("n_users", n_users, lo=2, error=ConfigError)
    check_int("factors", factors, lo=1, error=ConfigError)
    check_float("taste", taste, lo=0.0, error=ConfigError)
    check_int("calibration_steps", calibration_steps, lo=0, error=ConfigError)
    rng = np.random.default_rng(seed)
    n_items = stats.n_items
    item_f = rng.normal(0.0, 1.0, (n_items, factors)) / np.sqrt(factors)
    target = stats.popularity()[np.argsort(rng.permutation(n_items))]  # random item ids get the ranks
    offset = np.log(target)
    cal_rng = np.random.default_rng([seed, 1])
    cal_users = cal_rng.normal(0.0, 1.0, (min(calibration_users, n_users), factors))
    cal_counts = stats.items_per_user(cal_rng, len(cal_users))
    for _ in range(calibration_steps):
        picks = _picks(cal_users, item_f, offset, taste, cal_counts, cal_rng)
        observed = np.bincount(picks[1], minlength=n_items) + 0.5
        offset = offset + np.log(target / (observed / observed.sum()))
    users_out, items_out, stamps_out, factors_out = [], [], [], []
    for start in range(0, n_users, chunk):
        stop = min(n_users, start + chunk)
        block_rng = np.random.default_rng([seed, 2, start])
        user_f = block_rng.normal(0.0, 1.0, (stop - start, factors))
        counts = stats.items_per_user(block_rng, stop - start)
        rows, items = _picks(user_f, item_f, offset, taste, counts, block_rng)
        factors_out.append(user_f)
        users_out.append(rows + start)
        items_out.append(items)
        stamps_out.append(1_000_000 + block_rng.permutation(len(rows)).astype(np.int64))
    users = np.concatenate(users_out)
    items = np.concatenate(items_out)
    ratings = np.ones(len(users), dtype=np.float32)
    data = from_arrays(users, items, ratings, np.concatenate(stamps_out),
                       source=f"synthetic-population(users={n_users}, seed={seed})")
    if with_factors:  # rows of item_f by the data's dense item index
        return data, np.concatenate(factors_out), item_f[data.item_labels]
    return data


def _picks(user_f: np.ndarray, item_f: np.ndarray, offset: np.ndarray, taste: float, counts: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(row, item) of each user's ``counts[row]`` picks without replacement (Gumbel top-k of the logits)."""
    logits = taste * (user_f @ item_f.T) + offset[None, :] + rng.gumbel(size=(len(user_f), len(offset)))
    k = int(counts.max())
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k] if k < logits.shape[1] else \
        np.tile(np.arange(logits.shape[1]), (len(logits), 1))
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(logits, top, axis=1), axis=1), axis=1)
    rows = np.repeat(np.arange(len(user_f)), counts)
    position = np.concatenate([np.arange(c) for c in counts])
    return rows, order[rows, position]
