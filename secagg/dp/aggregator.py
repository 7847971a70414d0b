"""The DP aggregator: distributed Skellam noise inside an integer secure sum, behind ``Aggregator``.

``make_dp_aggregator(base, config, dim)`` returns an :class:`Aggregator` whose
``aggregate(updates, dropouts=..., round_index=...)`` returns the *noisy* sum of the clipped
updates of the included clients, and whose :attr:`DPAggregator.ledger` reports the epsilon spent
after every round. ``base`` chooses how the clients' integers are summed mod 2^bits:

* ``"secagg"`` / ``"secagg+"``: a full protocol session per round through
  :func:`secagg.simulate` (key agreement, Shamir shares, dropout recovery) with pre-quantized
  inputs. The protocol takes per-client values in [0, Q) with n (Q - 1) < 2^bits, so this uses
  the ``"offset"`` layout of :mod:`secagg.dp.params`: each client holds r + K and a
  :class:`~secagg.protocol.config.NoisePlan`, and its masked-input round adds the Skellam noise
  inside the fused native kernel, in the same pass as the masks (noise mod 2^bits, like
  ``"masked"``). Only variances above the native sampler's 2**27 (or Q > 2**52) fall back to
  adding Python-sampled noise to the input before the protocol, clamped to [0, 2K].
* ``"masked"``: the fused native kernel adds the Skellam noise and pairwise masks (complete graph,
  seeds from the session) in one pass; the server adds the vectors with ``sum_masked``. This is
  the arithmetic of secure aggregation without its key agreement and dropout recovery, and the
  path whose throughput ``benchmarks/bench_dp.py`` measures.
* ``"plain"``: the residues are added in the clear (the reference for the others).

Clients that drop before uploading add neither update nor noise; a round whose contributors fall
below ``min_clients`` is charged with the lower noise it actually got. The guarantee assumes
clients follow the protocol (each adds its share of noise), as in the distributed-DP papers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._validate import check_choice
from ..aggregators.base import AggregationResult, Aggregator, validate_updates
from ..core.masking import MAX_NOISE_VARIANCE, quantize_and_mask_skellam, sum_masked
from ..errors import ConfigError, ShapeError, ThresholdError
from ..protocol.config import MAX_NOISY_QUANTIZATION, NoisePlan
from ..protocol.params import ProtocolOptions
from ..protocol.stage import DropoutSchedule, check_dropouts, contributes
from ..sim.backends.base import ClientBackend
from ..sim.backends.registry import BackendHolder
from ..sim.session import simulate
from . import randomness
from .accounting import PrivacyLedger
from .config import DPConfig, DPPlan
from .mechanism import RoundCodec, round_seed, to_residues, upload_bytes

SeedSource = Callable[[int, int], bytes]
"""(client id, round index) -> the client's 32-byte secret seed for that round."""

BACKENDS = ("plain", "masked", "secagg", "secagg+")


def _fresh(_cid: int, _round: int) -> bytes:
    return randomness.fresh_seed()


def layout_for(backend: str) -> str:
    """The integer layout a backend needs (see :mod:`secagg.dp.params`)."""
    return "offset" if backend in ("secagg", "secagg+") else "modular"


class DPAggregator(Aggregator):
    """Clip, rotate, scale, round and add Skellam noise per client; securely sum; decode."""

    name = "dp"

    def __init__(self, plan: DPPlan, *, backend: str = "plain", session_seed: bytes | None = None,
                 seed_source: SeedSource | None = None, client_backend: str | ClientBackend = "inprocess",
                 client_backend_options: Mapping[str, Any] | None = None, **protocol_options: Any) -> None:
        """``protocol_options`` (``secagg`` / ``secagg+`` backends only) are the fields of
        :class:`~secagg.protocol.params.ProtocolOptions`; ``client_backend`` (with its options)
        hosts the protocol's simulated clients (:mod:`secagg.sim.backends`)."""
        check_choice("DP backend", backend, BACKENDS)
        if protocol_options and backend not in ("secagg", "secagg+"):
            raise ConfigError(f"the {backend!r} DP backend runs no protocol session, so it takes no "
                              f"{', '.join(sorted(protocol_options))}")
        if plan.params.layout != layout_for(backend):
            raise ConfigError(f"backend {backend!r} needs a plan with layout {layout_for(backend)!r}; "
                              "build it with make_dp_aggregator")
        if backend == "masked" and plan.params.local_variance > MAX_NOISE_VARIANCE:
            raise ConfigError("the native kernel samples Skellam variances up to 2**27; use the "
                              "'plain' or 'secagg+' backend, or a smaller scale")
        self.plan = plan
        self.params = plan.params
        self.backend = backend
        self.session_seed = randomness.fresh_seed() if session_seed is None else session_seed
        self.seed_source = seed_source or _fresh
        self.protocol_options = ProtocolOptions.from_options(f"DP backend {backend!r}", protocol_options)
        self._clients = BackendHolder(client_backend, client_backend_options)
        self.ledger = PrivacyLedger(plan.config.target_delta, plan.config.accountant)
        self.name = f"dp-{backend}"
        self.last_epsilon = 0.0

    def close(self) -> None:
        """Release the protocol's client backend (if built from a name)."""
        self._clients.close()

    # --- one client ---------------------------------------------------------------------
    def _client_masked(self, codec: RoundCodec, cid: int, others: list[int], x: np.ndarray,
                       seed: bytes, round_index: int) -> np.ndarray:
        p = self.params
        rounded = codec.prepare(x, seed).astype(np.float64)  # |r| <= Delta2 <= K: no clipping
        pair = [randomness.sub_seed(self.session_seed, b"pair/%d" % round_index,
                                    min(cid, j) * 2**32 + max(cid, j)) for j in others]
        signs = [1 if cid < j else -1 for j in others]
        # identity quantization: r in [-K, K] becomes r + K exactly; then noise and masks
        return quantize_and_mask_skellam(
            rounded, clipping_range=float(p.offset), quantization_range=2 * p.offset + 1,
            modulus_range=p.modulus, self_seed=None, peer_seeds=pair, peer_signs=signs,
            noise_seed=randomness.sub_seed(seed, b"noise"), noise_variance=p.local_variance,
            rounding_seed=randomness.sub_seed(seed, b"identity-rounding"))

    def _native_noise(self) -> bool:
        """Whether the protocol clients can add the noise in their fused kernel."""
        p = self.params
        return p.local_variance <= MAX_NOISE_VARIANCE and 2 * p.offset + 1 <= MAX_NOISY_QUANTIZATION

    def _client_offset(self, codec: RoundCodec, x: np.ndarray, seed: bytes,
                       with_noise: bool) -> np.ndarray:
        """clamp(r [+ noise] + K, 0, 2K): the client's input in [0, Q) for the protocol."""
        p = self.params
        v = codec.prepare(x, seed) + p.offset
        if with_noise:
            v = v + codec.noise(seed)
        v = np.clip(v, 0, 2 * p.offset)  # happens with probability <= wrap_probability
        return v.astype(np.uint32 if p.bits <= 32 else np.uint64)

    # --- the round ----------------------------------------------------------------------
    def aggregate(self, updates: Mapping[int, np.ndarray], *, dropouts: DropoutSchedule | None = None,
                  round_index: int = 0) -> AggregationResult:
        ids, matrix = validate_updates(updates)
        p = self.params
        if matrix.shape[1] != p.dim:
            raise ShapeError(f"updates have length {matrix.shape[1]}; this DP aggregator was set "
                             f"up for {p.dim}")
        dropouts = check_dropouts(dropouts, ids)
        t0 = time.perf_counter()
        codec = RoundCodec(p, round_seed(self.session_seed, round_index))
        seeds = {cid: self.seed_source(cid, round_index) for cid in ids}
        sent: dict[int, dict[str, int]] = {}
        received: dict[int, dict[str, int]] = {}
        worker_cpu = 0.0  # CPU the protocol's remote clients spent (not in this process's clock)
        if self.backend in ("secagg", "secagg+"):
            native = self._native_noise()
            inputs = {cid: self._client_offset(codec, matrix[i], seeds[cid], not native)
                      for i, cid in enumerate(ids)}
            plans = {cid: NoisePlan(p.local_variance, randomness.sub_seed(seeds[cid], b"noise"))
                     for cid in ids} if native else None
            t1 = time.perf_counter()
            res = simulate(inputs, protocol=self.backend, dropouts=dropouts,
                           quantization_range=2 * p.offset + 1, modulus_range=p.modulus,
                           noise_plans=plans, backend=self._clients.get(), **self.protocol_options.as_kwargs())
            included = frozenset(res.included)
            total = res.quantized_sum.astype(np.uint64) - np.uint64(len(included) * p.offset)
            sent, received = res.bytes_sent, res.bytes_received
            worker_cpu = res.seconds["client_cpu"] if self._clients.remote else 0.0
        else:
            keep = [cid for cid in ids if contributes(dropouts.get(cid))]
            if not keep:
                raise ThresholdError("no client survived to upload its update", stage="MASKED_INPUT",
                                     survivors=0, threshold=1)
            index = {cid: i for i, cid in enumerate(ids)}
            if self.backend == "masked":
                vecs = [self._client_masked(codec, cid, [j for j in keep if j != cid],
                                            matrix[index[cid]], seeds[cid], round_index) for cid in keep]
                t1 = time.perf_counter()
                total = sum_masked(vecs, modulus_range=p.modulus).astype(np.uint64)
                total = total - np.uint64(len(keep) * p.offset % p.modulus)
            else:
                vecs = [codec.encode(matrix[index[cid]], seeds[cid]) for cid in keep]
                t1 = time.perf_counter()
                total = np.zeros(p.padded_dim, dtype=np.uint64)
                for v in vecs:
                    total += v.astype(np.uint64)
            included = frozenset(keep)
            nbytes = upload_bytes(p)
            sent = {cid: {"MASKED_INPUT": nbytes} for cid in included}
            received = {cid: {"MASKED_INPUT": 0} for cid in included}
        noisy = codec.decode(to_residues(total.view(np.int64), p.bits))
        t2 = time.perf_counter()
        self.last_epsilon = self.ledger.record_round(
            self.plan.config.round_mechanism(p, len(included)), round_index, participants=included)
        return AggregationResult(total=noisy, included=included, bytes_sent=sent,
                                 bytes_received=received,
                                 seconds={"client": t1 - t0, "server": t2 - t1, "worker_cpu": worker_cpu})


def make_dp_aggregator(base_name: str, config: DPConfig, dim: int, **options: Any) -> DPAggregator:
    """Build the DP aggregator for updates of length ``dim`` (the plan is resolved here).

    ``options``: ``session_seed``, ``seed_source`` (tests), and for ``secagg``/``secagg+`` any
    :func:`secagg.simulate` option (``corrupt_fraction``, ``dropout_fraction``,
    ``num_neighbors``, ``threshold``, ``threat_model``) and ``client_backend`` /
    ``client_backend_options`` (where the protocol's clients run).
    """
    check_choice("DP backend", base_name, BACKENDS)
    return DPAggregator(config.plan(dim, layout_for(base_name)), backend=base_name, **options)
