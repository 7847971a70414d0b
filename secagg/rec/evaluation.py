"""Evaluation sets (held-out item, training items to exclude, fixed sampled negatives) and scoring.

The sampled negatives are drawn once per evaluation set from a seeded generator so that every
method (popularity, centralized, federated) is compared on exactly the same candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from . import metrics
from .data import UserItems
from .split import Split

METRIC_NAMES = ("hr@10", "ndcg@10", "sampled_hr@10", "sampled_ndcg@10")


@dataclass(frozen=True)
class EvalSet:
    """Users with a held-out item, that item, their training items and 99 sampled negatives."""

    users: np.ndarray
    targets: np.ndarray
    negatives: np.ndarray
    train: UserItems
    k: int = 10

    def __len__(self) -> int:
        return int(len(self.users))


def make_eval_set(split: Split, *, which: str = "test", n_negatives: int = 99, seed: int = 0,
                  k: int = 10) -> EvalSet:
    """Evaluation set for the ``test`` or ``validation`` held-out items of ``split``."""
    if which not in ("test", "validation"):
        raise ConfigError(f"which must be 'test' or 'validation', got {which!r}")
    held = split.test_items if which == "test" else split.validation_items
    users = np.flatnonzero(held >= 0)
    if len(users) == 0:
        raise ConfigError(f"the split has no {which} items (was it made with validation=True?)")
    rng = np.random.default_rng(seed)
    negatives = metrics.sample_eval_negatives(split.known_items(), users, n_negatives, rng)
    return EvalSet(users=users, targets=held[users], negatives=negatives, train=split.train, k=k)


def user_metrics(scores: np.ndarray, eval_set: EvalSet, rows: np.ndarray) -> np.ndarray:
    """Per-user metric rows ``(len(rows), 4)`` for score rows of the eval users at ``rows``."""
    targets = eval_set.targets[rows]
    exclude = [eval_set.train.items_of(int(eval_set.users[r])) for r in rows]
    hit, ndcg = metrics.full_ranking(scores, targets, exclude, eval_set.k)
    s_hit, s_ndcg = metrics.sampled(scores, targets, eval_set.negatives[rows], eval_set.k)
    return np.stack([hit, ndcg, s_hit, s_ndcg], axis=1)


def summarize(per_user: np.ndarray) -> dict[str, float]:
    """Average per-user metric rows into a dict keyed by :data:`METRIC_NAMES`."""
    means = per_user.mean(axis=0)
    return {name: float(v) for name, v in zip(METRIC_NAMES, means)}


def evaluate(score_fn: Callable[[np.ndarray], np.ndarray], eval_set: EvalSet, *, batch: int = 256
             ) -> dict[str, float]:
    """Metrics of a model given as ``score_fn(user_indices) -> (len, n_items)`` scores."""
    parts = []
    for start in range(0, len(eval_set), batch):
        rows = np.arange(start, min(start + batch, len(eval_set)))
        parts.append(user_metrics(score_fn(eval_set.users[rows]), eval_set, rows))
    return summarize(np.concatenate(parts))


def seed_summary(values: Sequence[float]) -> dict[str, float | int | list[float]]:
    """Mean and sample standard deviation (ddof 1; 0 for one value) of a metric over seeds."""
    vals = [float(v) for v in values]
    if not vals:
        raise ConfigError("seed_summary needs at least one value")
    arr = np.asarray(vals)
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "sd": sd, "n": len(vals), "values": vals}


def format_mean_sd(summary: dict, digits: int = 4) -> str:
    """``"0.0412 ± 0.0013"`` for a :func:`seed_summary`."""
    return f"{summary['mean']:.{digits}f} ± {summary['sd']:.{digits}f}"
