"""Simulation of who takes part in a round: client sampling and dropouts.

Both draw from the run's seeded numpy Generator — this simulates user behaviour, it is not key
material (the secure aggregators draw their own randomness from the OS).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, PrivacyError
from ..protocol.stage import Stage


class ClientSampler:
    """Either a fixed number of clients per round (without replacement) or Poisson sampling.

    ``exact_poisson``: an empty Poisson draw stays empty (DP runs: the accountant assumes each
    client joins independently); otherwise one client is drawn so a round is never empty.
    ``cyclic_seed`` (with ``per_round`` m): cyclic participation — epoch e permutes the population
    with a generator seeded by (cyclic_seed, e), independent of the data and of the run's other
    draws, and splits it into len // m blocks (m or m + 1 clients), one per round."""

    def __init__(self, population: np.ndarray, *, per_round: int | None = None,
                 rate: float | None = None, exact_poisson: bool = False,
                 cyclic_seed: int | None = None) -> None:
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
        self.exact_poisson = bool(exact_poisson)
        if cyclic_seed is not None and per_round is None:
            raise ConfigError("cyclic participation needs clients per round")
        self.cyclic_seed = cyclic_seed

    @classmethod
    def for_privacy(cls, population: np.ndarray, dp: Any, seed: int = 0) -> ClientSampler:
        """The sampler a DP run's accountant analyses (``dp``: a :class:`~secagg.dp.DPConfig`):
        fixed-size (``clients_per_round`` of the population), exact Poisson at its rate, or cyclic
        (blocks permuted by ``seed`` per epoch)."""
        if dp.num_users != len(population):
            raise PrivacyError(f"the DP plan accounts {dp.num_users} users but {len(population)} can be "
                               "sampled; set num_users to the population")
        if dp.sampling == "fixed":
            return cls(population, per_round=dp.clients_per_round)
        if dp.sampling == "cyclic":
            return cls(population, per_round=dp.clients_per_round, cyclic_seed=int(seed))
        return cls(population, rate=dp.sampling_probability, exact_poisson=True)

    @property
    def sampling(self) -> str:
        if self.cyclic_seed is not None:
            return "cyclic"
        return "fixed" if self.per_round is not None else "poisson"

    def check_matches(self, dp: Any) -> None:
        """Raise :class:`PrivacyError` unless this sampler is the one ``dp``'s accountant analyses."""
        want = ClientSampler.for_privacy(self.population, dp)
        if (self.sampling, self.per_round, self.rate, self.exact_poisson) != \
                (want.sampling, want.per_round, want.rate, want.exact_poisson) or \
                (self.cyclic_seed is None) != (want.cyclic_seed is None) or \
                not np.array_equal(self.population, want.population):
            raise PrivacyError(f"this run samples clients as {self.describe()} but its DP accountant "
                               f"analyses {want.describe()}; let the DP plan build the sampler")

    def describe(self) -> str:
        if self.cyclic_seed is not None:
            return f"cyclic (blocks of {self.per_round} of {len(self.population)}, once per epoch)"
        if self.per_round is not None:
            return f"fixed-size ({self.per_round} of {len(self.population)})"
        return f"{'exact ' if self.exact_poisson else ''}Poisson (rate {self.rate:g} of {len(self.population)})"

    def expected(self) -> float:
        return float(self.per_round if self.per_round is not None else self.rate * len(self.population))

    def sample(self, rng: np.random.Generator, round_index: int = 0) -> np.ndarray:
        """Sorted ids of this round's clients (Poisson rounds may be small; empty only if exact).
        ``round_index`` (0-based) picks the block of a cyclic sampler."""
        if self.cyclic_seed is not None:
            assert self.per_round is not None
            blocks = max(1, len(self.population) // self.per_round)
            epoch, block = divmod(int(round_index), blocks)
            order = np.random.default_rng([self.cyclic_seed, epoch, 0xC7C1]).permutation(self.population)
            return np.sort(np.array_split(order, blocks)[block])
        if self.per_round is not None:
            return np.sort(rng.choice(self.population, self.per_round, replace=False))
        chosen = self.population[rng.random(len(self.population)) < self.rate]
        if len(chosen) == 0 and not self.exact_poisson:
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
