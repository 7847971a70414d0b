"""Top-N metrics for leave-one-out evaluation: HR@k and NDCG@k, full ranking and sampled.

With one held-out item per user, HR@k is 1 when it ranks in the top k, and NDCG@k is
``1 / log2(rank + 2)`` for a 0-based rank below k (the ideal DCG is 1). Ties are broken
pessimistically: an item scoring exactly as high as the target counts as ranked above it, so a
constant model cannot score by luck.

* Full ranking: the target competes with every item the user did not interact with in training.
* Sampled (He et al. 2017, NCF): the target competes with 99 sampled non-interacted items.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .data import UserItems


def target_ranks(scores: np.ndarray, targets: np.ndarray, exclude: list[np.ndarray] | None = None) -> np.ndarray:
    """0-based rank of ``targets[u]`` among row ``u`` of ``scores``, skipping ``exclude[u]`` items.

    ``scores`` is ``(n, n_items)``; excluded items (never the target itself) do not compete.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(targets) != scores.shape[0]:
        raise ShapeError("scores must be (n_users, n_items) with one target per row")
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    beats = scores >= target_scores[:, None]
    beats[rows, targets] = False
    if exclude is not None:
        for r, items in enumerate(exclude):
            if len(items):
                beats[r, items] = False
            beats[r, targets[r]] = False
    return beats.sum(axis=1)


def hit_ndcg(ranks: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per-user HR@k and NDCG@k from 0-based ranks."""
    ranks = np.asarray(ranks)
    hit = (ranks < k).astype(np.float64)
    ndcg = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return hit, ndcg


def full_ranking(scores: np.ndarray, targets: np.ndarray, train: list[np.ndarray], k: int = 10
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per-user (HR@k, NDCG@k) ranking the target against all items not in the user's training set."""
    return hit_ndcg(target_ranks(scores, targets, train), k)


def sampled(scores: np.ndarray, targets: np.ndarray, negatives: np.ndarray, k: int = 10
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per-user (HR@k, NDCG@k) ranking the target against its row of sampled negatives."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(targets))[:, None]
    target_scores = scores[rows[:, 0], targets]
    negative_scores = scores[rows, negatives]
    ranks = (negative_scores >= target_scores[:, None]).sum(axis=1)
    return hit_ndcg(ranks, k)


def sample_eval_negatives(known: UserItems, users: np.ndarray, n: int, rng: np.random.Generator
                          ) -> np.ndarray:
    """``n`` distinct items per user drawn uniformly from the items the user never interacted with."""
    out = np.empty((len(users), n), dtype=np.int64)
    for row, user in enumerate(users):
        seen = known.items_of(int(user))
        pool_size = known.n_items - len(seen)
        if pool_size < n:
            raise ShapeError(f"user {user} has only {pool_size} unseen items; cannot sample {n} negatives")
        mask = np.ones(known.n_items, dtype=bool)
        mask[seen] = False
        out[row] = rng.choice(np.flatnonzero(mask), n, replace=False)
    return out
