"""Privacy accounting with Google's ``dp-accounting``: two epsilons per run, from the noise.

The guarantee is user-level (one user = one client). Each round is a :class:`RoundMechanism`:
the noise it actually got, its sensitivities and the sampling that chose its clients. Two views:

* **release** (``epsilon_release``): against anyone who sees only the released models, with
  amplification by the sampling the run actually used:

  - ``"poisson"`` (each client joins independently with probability q), add/remove-one-user
    adjacency;
  - ``"fixed"`` (exactly m of N, without replacement), replace-one-user adjacency (N public),
    so the sensitivity of the sum doubles: Delta -> 2 Delta;
  - ``"cyclic"`` (each epoch splits the N users into N // m disjoint blocks by a data-independent
    permutation, one block per round): no amplification at all; a user's data enters at most
    ceil(rounds / blocks) rounds, so the release view equals the server view (parallel composition
    within an epoch, sequential across epochs), add/remove adjacency.

* **server** (``epsilon_server``): against the server, which picks and sees the cohort. No
  amplification: the unsampled mechanism composed over the rounds the most frequent participant
  took part in (the server knows that count; it is at most the number of rounds), taking the
  noisiest-for-privacy (least noise) rounds. Same adjacency as the release view.

Two accountants (``mode``):

* ``"skellam"`` (default): the closed-form RDP of the multi-dimensional Skellam mechanism (Agarwal,
  Kairouz, Liu 2021, Cor. 3.6; mu = central variance per coordinate)::

      eps(a) = a Delta2^2 / (2 mu) + min(((2a - 1) Delta2^2 + 6 Delta1) / (4 mu^2), 3 Delta1 / (2 mu))

  Poisson rounds are amplified with the general upper bound of Zhu and Wang (2019, Thm. 6);
  fixed-size rounds with the general bound of Wang, Balle and Kasiviswanathan (2019, Thm. 9,
  with eps(inf) = inf); RDP adds over rounds and ``dp_accounting.rdp.compute_epsilon`` converts.
  Both subsampling theorems hold for any mechanism whose unsampled RDP is given, so every value
  is a proven upper bound.
* ``"gaussian"``: the Gaussian limit of the same mechanism (z = sqrt(mu) / Delta2; the Skellam
  correction is O(1/mu)): Poisson rounds in dp-accounting's PLD accountant
  (``PoissonSampledDpEvent``, pessimistic discretisation), fixed-size rounds in its RDP accountant
  with ``NeighboringRelation.REPLACE_ONE`` (``SampledWithoutReplacementDpEvent``, which PLD does
  not support); unsampled rounds (the server view, cyclic participation) compose exactly to one
  Gaussian whose (epsilon, delta) curve is analytic (:func:`gaussian_epsilon`). An upper bound for the Gaussian mechanism; for Skellam noise it is the limit the
  Skellam values approach from above.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln

from ..errors import DependencyError, PrivacyError

MODES = ("skellam", "gaussian")
SAMPLINGS = ("poisson", "fixed", "cyclic")
SKELLAM_ORDERS: tuple[int, ...] = tuple(range(2, 257)) + (320, 384, 448, 512, 768, 1024)
PLD_DISCRETIZATION = 1e-3
"""dp-accounting's PLD grid step (its pessimistic estimate stays an upper bound at any step; 1e-3
changes epsilon by < 1e-5 relative at epsilon ~ 8 and is ~10x faster than the default 1e-4)."""
RDP_ORDERS: tuple[float, ...] = tuple(range(2, 64)) + (80, 96, 128, 160, 192, 256, 384, 512, 1024)
"""Integer orders for dp-accounting's RDP accountant (its fractional orders below 2 fail to converge
at small noise and only matter at large epsilon; its without-replacement bound costs O(order^2))."""
ADJACENCY = {"poisson": "add/remove one user", "fixed": "replace one user", "cyclic": "add/remove one user"}


def _dp_accounting():
    try:
        import dp_accounting
    except ImportError:  # pragma: no cover - depends on the environment
        raise DependencyError("privacy accounting needs dp-accounting: pip install 'secagg[dp]'") from None
    return dp_accounting


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise PrivacyError(f"unknown accountant {mode!r}; use one of {', '.join(MODES)}")
    return mode


def check_sampling(sampling: str) -> str:
    if sampling not in SAMPLINGS:
        raise PrivacyError(f"the accountant cannot analyse sampling {sampling!r}; use one of "
                           f"{', '.join(SAMPLINGS)}")
    return sampling


def skellam_rdp(orders: Sequence[float], mu: float, l2: float, l1: float) -> np.ndarray:
    """Unsampled RDP of the Skellam mechanism at each order (inf when mu == 0)."""
    a = np.asarray(orders, dtype=np.float64)
    if mu <= 0:
        return np.full(a.shape, np.inf)
    extra = np.minimum(((2 * a - 1) * l2 * l2 + 6 * l1) / (4 * mu * mu), 3 * l1 / (2 * mu))
    return a * l2 * l2 / (2 * mu) + extra


def _logsumexp(terms: list[float]) -> float:
    t = np.array(terms)
    mx = np.max(t)
    if not math.isfinite(mx):
        return math.inf
    return float(mx + math.log(np.sum(np.exp(t - mx))))


def _per_order(orders: Sequence[int], q: float, rdp_at, bound) -> np.ndarray:
    """Per integer order: the unsampled RDP at q >= 1, 0 at q <= 0, else the smaller of the
    unsampled RDP and ``bound(alpha, q, rdp_at)``."""
    out = []
    for alpha in orders:
        alpha = int(alpha)
        base = float(rdp_at(np.array([alpha]))[0])
        if q >= 1.0:
            out.append(base)
        elif q <= 0.0:
            out.append(0.0)
        else:
            out.append(min(base, bound(alpha, q, rdp_at)))
    return np.array(out)


def poisson_subsampled_rdp(orders: Sequence[int], q: float, rdp_at) -> np.ndarray:
    """Zhu-Wang (2019, Thm. 6) upper bound on the RDP of a Poisson-subsampled mechanism.

    ``rdp_at(j)`` gives the unsampled RDP (add/remove adjacency) at integer orders j (an array).
    Returns the smaller of the bound and the unsampled RDP, per integer order.
    """
    return _per_order(orders, q, rdp_at, _zhu_wang)


def _zhu_wang(alpha: int, q: float, rdp_at) -> float:
    lq, l1q = math.log(q), math.log1p(-q)
    terms = [(alpha - 1) * l1q + math.log(alpha * q - q + 1)]
    eps2 = float(rdp_at(np.array([2]))[0])
    terms.append(math.log(alpha * (alpha - 1) / 2) + 2 * lq + (alpha - 2) * l1q + eps2)
    if alpha >= 3:
        j = np.arange(3, alpha + 1, dtype=np.float64)
        log_comb = gammaln(alpha + 1) - gammaln(j + 1) - gammaln(alpha - j + 1)
        terms.extend((math.log(3.0) + log_comb + j * lq + (alpha - j) * l1q + (j - 1) * rdp_at(j)).tolist())
    return _logsumexp(terms) / (alpha - 1)


def without_replacement_rdp(orders: Sequence[int], q: float, rdp_at) -> np.ndarray:
    """Wang-Balle-Kasiviswanathan (2019, Thm. 9) upper bound on the RDP of a mechanism run on m
    of N records drawn without replacement (q = m / N), replace-one adjacency, eps(inf) = inf.

    ``rdp_at(j)``: the unsampled RDP under replace-one adjacency at integer orders j (an array).
    Returns the smaller of the bound and the unsampled RDP, per integer order.
    """
    return _per_order(orders, q, rdp_at, _wang_balle_kasiviswanathan)


def _wang_balle_kasiviswanathan(alpha: int, q: float, rdp_at) -> float:
    lq = math.log(q)
    eps2 = float(rdp_at(np.array([2]))[0])
    second = min(math.log(4.0) + eps2 + math.log(-math.expm1(-eps2)) if eps2 > 0 else -math.inf,
                 eps2 + math.log(2.0))
    terms = [0.0, 2 * lq + math.log(alpha * (alpha - 1) / 2) + second]
    if alpha >= 3:
        j = np.arange(3, alpha + 1, dtype=np.float64)
        log_comb = gammaln(alpha + 1) - gammaln(j + 1) - gammaln(alpha - j + 1)
        terms.extend((math.log(2.0) + log_comb + j * lq + (j - 1) * rdp_at(j)).tolist())
    return _logsumexp(terms) / (alpha - 1)


@dataclass(frozen=True)
class RoundMechanism:
    """One round as the accountant sees it: noise variance, sensitivities (integer domain) and the
    sampling that chose its clients (``fixed``: ``sample_size`` of ``population``)."""

    central_variance: float
    l2_sensitivity: float
    l1_sensitivity: float
    sampling_probability: float
    sampling: str = "poisson"
    population: int = 0
    sample_size: int = 0

    def __post_init__(self) -> None:
        check_sampling(self.sampling)
        if self.sampling != "poisson" and not 1 <= self.sample_size <= self.population:
            raise PrivacyError(f"a {self.sampling} round needs 1 <= sample_size <= population, got "
                               f"{self.sample_size} of {self.population}")

    @property
    def blocks(self) -> int:
        """Rounds per epoch of cyclic participation (each user once per epoch)."""
        return max(1, self.population // self.sample_size) if self.sampling == "cyclic" else 1

    @property
    def noise_multiplier(self) -> float:
        """sigma / Delta2 (add/remove adjacency)."""
        return math.sqrt(self.central_variance) / self.l2_sensitivity

    @property
    def adjacency_factor(self) -> float:
        """How much one user can move the sum: 1 (add/remove) or 2 (replace one)."""
        return 2.0 if self.sampling == "fixed" else 1.0

    @property
    def amplification(self) -> float:
        """The sampling rate the release view is amplified by (1: none)."""
        if self.sampling == "cyclic":
            return 1.0
        return self.sample_size / self.population if self.sampling == "fixed" else self.sampling_probability

    def as_dict(self) -> dict[str, Any]:
        return {"central_variance": self.central_variance, "l2_sensitivity": self.l2_sensitivity,
                "l1_sensitivity": self.l1_sensitivity, "sampling_probability": self.sampling_probability,
                "sampling": self.sampling, "population": self.population, "sample_size": self.sample_size}

    # --- the Gaussian view -------------------------------------------------------------------
    def server_gaussian_event(self):
        """The unsampled Gaussian mechanism (noise relative to the adjacency's sensitivity)."""
        return _dp_accounting().GaussianDpEvent(self.noise_multiplier / self.adjacency_factor)

    def release_gaussian_event(self):
        dpa = _dp_accounting()
        if self.sampling == "cyclic":
            return self.server_gaussian_event()
        if self.sampling == "fixed":
            return dpa.SampledWithoutReplacementDpEvent(self.population, self.sample_size,
                                                        self.server_gaussian_event())
        return dpa.PoissonSampledDpEvent(self.sampling_probability, self.server_gaussian_event())

    # --- the Skellam view --------------------------------------------------------------------
    def _rdp_at(self, a):
        f = self.adjacency_factor
        return skellam_rdp(a, self.central_variance, f * self.l2_sensitivity, f * self.l1_sensitivity)

    def server_skellam_rdp(self, orders: Sequence[int] = SKELLAM_ORDERS) -> np.ndarray:
        return self._rdp_at(np.asarray(orders, dtype=np.float64))

    def release_skellam_rdp(self, orders: Sequence[int] = SKELLAM_ORDERS) -> np.ndarray:
        if self.sampling == "cyclic":
            return self.server_skellam_rdp(orders)
        if self.sampling == "fixed":
            return without_replacement_rdp(orders, self.amplification, self._rdp_at)
        return poisson_subsampled_rdp(orders, self.sampling_probability, self._rdp_at)

    def skellam_rdp(self, orders: Sequence[int] = SKELLAM_ORDERS) -> np.ndarray:
        """The release view's RDP (kept for callers of the single-epsilon API)."""
        return self.release_skellam_rdp(orders)


def pld_accountant():
    """dp-accounting's PLD accountant (add/remove adjacency) at :data:`PLD_DISCRETIZATION`."""
    return _dp_accounting().pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)


def rdp_accountant(sampling: str = "poisson"):
    """dp-accounting's RDP accountant with the adjacency of ``sampling`` (fixed: REPLACE_ONE)."""
    dpa = _dp_accounting()
    rel = dpa.NeighboringRelation.REPLACE_ONE if sampling == "fixed" else dpa.NeighboringRelation.ADD_OR_REMOVE_ONE
    return dpa.rdp.RdpAccountant(orders=RDP_ORDERS, neighboring_relation=rel)


def gaussian_epsilon(z: float, delta: float) -> float:
    """Smallest epsilon (to 1e-9 relative, rounded up) at which the Gaussian mechanism with noise
    multiplier ``z`` is (epsilon, delta)-DP: the exact analytic curve (Balle & Wang 2018, Thm. 8)
    as dp-accounting's ``GaussianPrivacyLoss.get_delta_for_epsilon`` computes it."""
    from dp_accounting.pld.privacy_loss_mechanism import GaussianPrivacyLoss

    loss = GaussianPrivacyLoss(z, sensitivity=1.0)
    if loss.get_delta_for_epsilon(0.0) <= delta:
        return 0.0
    lo, hi = 0.0, 1.0
    while loss.get_delta_for_epsilon(hi) > delta:
        lo, hi = hi, hi * 2.0
    while hi - lo > 1e-9 * hi:
        mid = (lo + hi) / 2
        if loss.get_delta_for_epsilon(mid) > delta:
            lo = mid
        else:
            hi = mid
    return hi  # delta(hi) <= delta: an upper bound


@functools.lru_cache(maxsize=4096)
def _round_rdp(mech: RoundMechanism, mode: str, view: str) -> np.ndarray:
    """One round's RDP vector (cached: a ledger recomposes its rounds after every round).

    ``skellam``: at :data:`SKELLAM_ORDERS`; ``gaussian`` (fixed-size release only): dp-accounting's
    REPLACE_ONE RDP of the round's event at :data:`RDP_ORDERS`."""
    if mode == "gaussian":
        acc = rdp_accountant("fixed")
        acc.compose(mech.release_gaussian_event())
        out = acc.rdp
    else:
        out = mech.release_skellam_rdp() if view == "release" else mech.server_skellam_rdp()
    out = np.asarray(out, dtype=np.float64)
    out.setflags(write=False)
    return out


def _epsilon(groups: dict[RoundMechanism, int], delta: float, mode: str, view: str) -> float:
    """Epsilon at ``delta`` after composing each mechanism ``count`` times, in one view."""
    groups = {m: c for m, c in groups.items() if c > 0}
    if not groups:
        return 0.0
    if any(m.central_variance <= 0 for m in groups):
        return math.inf
    samplings = {m.sampling for m in groups}
    if len(samplings) > 1:
        raise PrivacyError("rounds with different sampling modes cannot be composed in one ledger "
                           "(their adjacencies differ)")
    dpa = _dp_accounting()
    if mode == "gaussian" and view == "server":
        # Gaussian mechanisms with noise multipliers z_i compose exactly to one with
        # z = (sum count_i / z_i^2)^(-1/2) (their dominating pairs are shifted Gaussians)
        precision = sum(c / (m.noise_multiplier / m.adjacency_factor) ** 2 for m, c in groups.items())
        return gaussian_epsilon(precision ** -0.5, delta)
    if mode == "gaussian" and samplings == {"poisson"}:
        acc = pld_accountant()
        for mech, count in groups.items():
            acc.compose(mech.release_gaussian_event(), count)
        return float(acc.get_epsilon(delta))
    orders = RDP_ORDERS if mode == "gaussian" else SKELLAM_ORDERS
    total = np.zeros(len(orders))
    for mech, count in groups.items():
        total = total + count * _round_rdp(mech, mode, view)
    eps, _ = dpa.rdp.compute_epsilon(orders, total, delta)
    return float(eps)


def epsilon_for(rounds: Sequence[tuple[RoundMechanism, int]], delta: float, mode: str = "skellam") -> float:
    """Release epsilon at ``delta`` after composing each (mechanism, count) pair."""
    check_mode(mode)
    groups: dict[RoundMechanism, int] = {}
    for mech, count in rounds:
        groups[mech] = groups.get(mech, 0) + int(count)
    cyclic = [m for m in groups if m.sampling == "cyclic"]
    if cyclic:  # a user is in at most ceil(rounds / blocks) of them: compose only those
        expanded = [m for m, c in groups.items() for _ in range(c)]
        return server_epsilon_for(expanded, -(-len(expanded) // min(m.blocks for m in cyclic)), delta, mode)
    return _epsilon(groups, delta, mode, "release")


def server_epsilon_for(mechanisms: Sequence[RoundMechanism], participations: int, delta: float,
                       mode: str = "skellam") -> float:
    """Epsilon against the server for a client that took part in ``participations`` of these
    rounds: the unsampled mechanism composed over the ``participations`` least-noisy rounds."""
    check_mode(mode)
    worst = sorted(mechanisms, key=lambda m: (m.noise_multiplier, m.central_variance))[:participations]
    groups: dict[RoundMechanism, int] = {}
    for mech in worst:
        groups[mech] = groups.get(mech, 0) + 1
    return _epsilon(groups, delta, mode, "server")


@dataclass
class PrivacyLedger:
    """Tracks both epsilons round by round (what metrics.json and the net ledger record).

    Each :meth:`record_round` adds one round's mechanism (with the noise actually added: if fewer
    clients than planned contributed noise, that round's variance is lower and costs more) and the
    clients whose data it used (for the server view's participation count).
    """

    delta: float
    mode: str = "skellam"
    history: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_mode(self.mode)
        self._groups: dict[RoundMechanism, int] = {}
        self._mechanisms: list[RoundMechanism] = []
        self._participation: dict[int, int] = {}
        self._participants_unknown = False
        self._release = 0.0
        self._server = 0.0

    @property
    def rounds(self) -> int:
        return len(self._mechanisms)

    @property
    def max_participation(self) -> int:
        """The most rounds any one client contributed to (every round if participants are unknown)."""
        if self._participants_unknown:
            return self.rounds
        return max(self._participation.values(), default=0)

    def epsilon(self) -> float:
        """Release epsilon spent so far (see :meth:`epsilon_server` for the server's view)."""
        return self._release

    def epsilon_release(self) -> float:
        return self._release

    def epsilon_server(self) -> float:
        return self._server

    def participation(self) -> dict[str, int]:
        """How many recorded rounds each client's data was used in (JSON-able, for checkpoints)."""
        return {str(k): v for k, v in sorted(self._participation.items())}

    def restore_participation(self, counts: dict[int, int]) -> None:
        """Set the participation counts (after replaying rounds with ``participants=()``)."""
        self._participation = dict(counts)
        self._server = server_epsilon_for(self._mechanisms, self.max_participation, self.delta, self.mode)
        if self._mechanisms and self._mechanisms[0].sampling == "cyclic":
            self._release = self._server
        if self.history:
            self.history[-1].update(epsilon_server=self._server, epsilon_release=self._release,
                                    max_participation=self.max_participation)

    def record_round(self, mechanism: RoundMechanism, round_index: int | None = None,
                     participants: Iterable[int] | None = None) -> float:
        """Add one round; returns the release epsilon after it (both are in :attr:`history`).

        ``participants``: ids of the clients whose data the round used (None: every client is
        counted as having taken part, the data-independent bound)."""
        if self._mechanisms and mechanism.sampling != self._mechanisms[0].sampling:
            raise PrivacyError(f"this ledger accounts {self._mechanisms[0].sampling} sampling; a "
                               f"{mechanism.sampling} round cannot join it")
        self._mechanisms.append(mechanism)
        self._groups[mechanism] = self._groups.get(mechanism, 0) + 1
        if participants is None:
            self._participants_unknown = True
        else:
            for cid in participants:
                self._participation[int(cid)] = self._participation.get(int(cid), 0) + 1
        self._server = server_epsilon_for(self._mechanisms, self.max_participation, self.delta, self.mode)
        self._release = self._server if mechanism.sampling == "cyclic" else \
            _epsilon(self._groups, self.delta, self.mode, "release")
        self.history.append({
            "round": self.rounds if round_index is None else int(round_index),
            "epsilon_release": self._release,
            "epsilon_server": self._server,
            "max_participation": self.max_participation,
            "delta": self.delta,
            "noise_multiplier": (mechanism.noise_multiplier if mechanism.central_variance > 0 else 0.0),
            "sampling": mechanism.sampling,
            "sampling_probability": mechanism.amplification,
        })
        return self._release
