"""Simulation of who takes part in a round: client sampling and dropouts.

Both draw from the run's seeded numpy Generator — this simulates user behaviour, it is not key
material (the secure aggregators draw their own randomness from the OS).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..protocol.stage import Stage


class ClientSampler:
    """Either a fixed number of clients per round (without replacement) or Poisson sampling."""

    def __init__(self, population: np.ndarray, *, per_round: int | None = None,
                 rate: float | None = None) -> None:
        self.population = np.asarray(population, dtype=np.int64)
        if len(self.population) == 0:
            raise ConfigError("no clients to sample from")
        if (per_round is None) == (rate is None):
            raise ConfigError("give exactly one of clients per round or a Poisson sampling rate")
        if per_round is not None and not 1 <= per_round <= len(self.population):
            raise ConfigError(f"clients per round must be in [1, {len(self.population)}], got {per_round}")
        if rate is not None and not 0 < rate <= 1:
            raise ConfigError(f"the Poisson sampling rate must be in (0, 1], got {rate}")
        self.per_round = per_round
        self.rate = rate

    def expected(self) -> float:
        return float(self.per_round if self.per_round is not None else self.rate * len(self.population))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Sorted ids of this round's clients (Poisson rounds may be small, never empty)."""
        if self.per_round is not None:
            return np.sort(rng.choice(self.population, self.per_round, replace=False))
        chosen = self.population[rng.random(len(self.population)) < self.rate]
        if len(chosen) == 0:
            chosen = rng.choice(self.population, 1)
        return np.sort(chosen)


class DropoutSimulator:
    """Each sampled client drops with probability ``rate``, before a uniformly chosen stage of the
    five every secure session has (the GRAPH_SEED and EXCLUSION stages run only in some)."""

    STAGES = (Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT, Stage.CONSISTENCY_CHECK,
              Stage.UNMASKING)

    def __init__(self, rate: float = 0.0) -> None:
        if not 0 <= rate < 1:
            raise ConfigError(f"the dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def draw(self, clients: np.ndarray, rng: np.random.Generator) -> dict[int, Stage]:
        drops = rng.random(len(clients)) < self.rate
        stages = rng.integers(0, len(self.STAGES), len(clients))
        return {int(c): self.STAGES[int(s)] for c, d, s in zip(clients, drops, stages) if d}
