"""A built-in synthetic data set, so training runs on a fresh machine with no download.

Users and items get latent factors; items also get a long-tailed (Zipf-like) popularity. Each user
picks a log-normally distributed number of distinct items by sampling without replacement from
``softmax(user . item / temperature + log popularity)`` (Gumbel top-k), and the order of the picks
follows a slowly drifting taste so the latest interaction is predictable from the earlier ones.
numpy.random is used on purpose: this is simulated data, not key material.
"""

from __future__ import annotations

import numpy as np

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
