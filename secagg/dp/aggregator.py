"""The DP aggregator: distributed Skellam noise inside an integer secure-sum, behind ``Aggregator``.

``make_dp_aggregator("plain" | "masked", config, dim)`` returns an :class:`Aggregator` whose
``aggregate(updates, dropouts=..., round_index=...)`` returns the *noisy* sum of the clipped
updates of the included clients, and whose :attr:`DPAggregator.ledger` reports the epsilon spent
after every round. Backends sum the clients' residues mod 2^bits:

* ``"plain"``: adds them in the clear (tests, and the reference for the others);
* ``"masked"``: each client masks its residues with the fused native kernel (pairwise masks over
  a complete graph that cancel in the sum), the server adds them with ``sum_masked`` — the
  arithmetic secure aggregation performs, without the key agreement and dropout recovery.

Clients that drop before uploading add neither update nor noise; a round whose contributors
fall below ``min_clients`` is charged with the lower noise it actually got.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

from ..aggregator import AggregationResult, Aggregator, DropoutSchedule, contributes, validate_updates
from ..errors import ConfigError, ShapeError, ThresholdError
from . import randomness
from .accounting import PrivacyLedger
from .config import DPConfig, DPPlan
from .mechanism import RoundCodec, round_seed, upload_bytes

SeedSource = Callable[[int, int], bytes]
"""(client id, round index) -> the client's 32-byte secret seed for that round."""

BACKENDS = ("plain",)


def _fresh(_cid: int, _round: int) -> bytes:
    return randomness.fresh_seed()


class DPAggregator(Aggregator):
    """Clip, rotate, scale, round and add Skellam noise per client; securely sum; decode."""

    name = "dp"

    def __init__(self, plan: DPPlan, *, backend: str = "plain", session_seed: bytes | None = None,
                 seed_source: SeedSource | None = None) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown DP backend {backend!r}; use one of {', '.join(BACKENDS)}")
        self.plan = plan
        self.params = plan.params
        self.backend = backend
        self.session_seed = randomness.fresh_seed() if session_seed is None else session_seed
        self.seed_source = seed_source or _fresh
        self.ledger = PrivacyLedger(plan.config.target_delta, plan.config.accountant)
        self.name = f"dp-{backend}"

    def _sum(self, encoded: dict[int, np.ndarray], seeds: dict[int, bytes]) -> np.ndarray:
        p = self.params
        if self.backend == "plain":
            total = np.zeros(p.padded_dim, dtype=np.uint64)
            for v in encoded.values():
                total += v.astype(np.uint64)
            return total & np.uint64((1 << p.bits) - 1) if p.bits < 64 else total
        raise ConfigError(f"backend {self.backend!r} is not available")  # pragma: no cover

    def aggregate(self, updates: Mapping[int, np.ndarray], *, dropouts: DropoutSchedule | None = None,
                  round_index: int = 0) -> AggregationResult:
        ids, matrix = validate_updates(updates)
        if matrix.shape[1] != self.params.dim:
            raise ShapeError(f"updates have length {matrix.shape[1]}; this DP aggregator was set "
                             f"up for {self.params.dim}")
        dropouts = dropouts or {}
        keep = [i for i, cid in enumerate(ids) if contributes(dropouts.get(cid))]
        if not keep:
            raise ThresholdError("no client survived to upload its update", stage="MASKED_INPUT",
                                 survivors=0, threshold=1)
        t0 = time.perf_counter()
        codec = RoundCodec(self.params, round_seed(self.session_seed, round_index))
        encoded, seeds = {}, {}
        for i in keep:
            cid = ids[i]
            seeds[cid] = self.seed_source(cid, round_index)
            encoded[cid] = codec.encode(matrix[i], seeds[cid])
        t1 = time.perf_counter()
        total = self._sum(encoded, seeds)
        noisy = codec.decode(total)
        t2 = time.perf_counter()
        included = frozenset(ids[i] for i in keep)
        eps = self.ledger.record_round(self.plan.config.round_mechanism(self.params, len(keep)),
                                       round_index)
        nbytes = upload_bytes(self.params)
        self.last_epsilon = eps
        return AggregationResult(
            total=noisy, included=included,
            bytes_sent={cid: {"MASKED_INPUT": nbytes} for cid in included},
            bytes_received={cid: {"MASKED_INPUT": 0} for cid in included},
            seconds={"client": t1 - t0, "server": t2 - t1})


def make_dp_aggregator(base_name: str, config: DPConfig, dim: int, **options) -> DPAggregator:
    """Build the DP aggregator for updates of length ``dim`` (the plan is resolved here)."""
    return DPAggregator(config.plan(dim), backend=base_name, **options)
