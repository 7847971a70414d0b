"""Privacy accounting with Google's ``dp-accounting``: epsilon from noise, noise from epsilon.

The guarantee is user-level (one user = one client) under add/remove-one-user adjacency, with
each round's clients chosen by Poisson sampling at rate q = clients_per_round / num_users.

Two accountants (``mode``):

* ``"skellam"`` (default, rigorous): the closed-form RDP of the multi-dimensional Skellam
  mechanism (Agarwal, Kairouz, Liu 2021, Cor. 3.6; mu = central variance per coordinate, Delta1,
  Delta2 the rounded sensitivities)::

      eps(a) = a Delta2^2 / (2 mu) + min(((2a - 1) Delta2^2 + 6 Delta1) / (4 mu^2), 3 Delta1 / (2 mu))

  amplified by Poisson subsampling with the general upper bound of Zhu and Wang (2019, Thm. 6)
  (taking the smaller of it and the unsampled value), composed over rounds by adding RDP, and
  converted to (eps, delta) by ``dp_accounting.rdp.compute_epsilon``.
* ``"gaussian"``: the Gaussian approximation, where the paper shows it is tight (mu >> Delta2,
  the regime :func:`secagg.dp.params.derive_parameters` produces; the Skellam correction is
  O(1/mu)): ``PoissonSampledDpEvent(q, GaussianDpEvent(sqrt(mu) / Delta2))`` self-composed over
  rounds in ``dp_accounting``'s ``RdpAccountant``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from ..errors import DependencyError, PrivacyError

MODES = ("skellam", "gaussian")
SKELLAM_ORDERS: tuple[int, ...] = tuple(range(2, 257)) + (320, 384, 448, 512, 768, 1024)


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


def skellam_rdp(orders: Sequence[float], mu: float, l2: float, l1: float) -> np.ndarray:
    """Unsampled RDP of the Skellam mechanism at each order (inf when mu == 0)."""
    a = np.asarray(orders, dtype=np.float64)
    if mu <= 0:
        return np.full(a.shape, np.inf)
    extra = np.minimum(((2 * a - 1) * l2 * l2 + 6 * l1) / (4 * mu * mu), 3 * l1 / (2 * mu))
    return a * l2 * l2 / (2 * mu) + extra


def poisson_subsampled_rdp(orders: Sequence[int], q: float, rdp_at) -> np.ndarray:
    """Zhu-Wang (2019) upper bound on the RDP of a Poisson-subsampled mechanism (integer orders).

    ``rdp_at(j)`` gives the unsampled RDP at integer order j (an array over j works too). Returns
    the smaller of the bound and the unsampled RDP, per order.
    """
    out = []
    for alpha in orders:
        alpha = int(alpha)
        base = float(rdp_at(np.array([alpha]))[0])
        if q >= 1.0 or not math.isfinite(base):
            out.append(base if q >= 1.0 else _subsampled_inf(alpha, q, rdp_at))
            continue
        out.append(min(base, _zhu_wang(alpha, q, rdp_at)))
    return np.array(out)


def _subsampled_inf(alpha: int, q: float, rdp_at) -> float:
    return _zhu_wang(alpha, q, rdp_at)


def _zhu_wang(alpha: int, q: float, rdp_at) -> float:
    if q <= 0.0:
        return 0.0
    lq, l1q = math.log(q), math.log1p(-q)
    terms = [(alpha - 1) * l1q + math.log(alpha * q - q + 1)]
    eps2 = float(rdp_at(np.array([2]))[0])
    terms.append(math.log(alpha * (alpha - 1) / 2) + 2 * lq + (alpha - 2) * l1q + eps2)
    if alpha >= 3:
        j = np.arange(3, alpha + 1, dtype=np.float64)
        eps_j = rdp_at(j)
        log_comb = gammaln(alpha + 1) - gammaln(j + 1) - gammaln(alpha - j + 1)
        terms.extend((math.log(3.0) + log_comb + j * lq + (alpha - j) * l1q + (j - 1) * eps_j).tolist())
    t = np.array(terms)
    mx = np.max(t)
    if not math.isfinite(mx):
        return math.inf
    return float((mx + math.log(np.sum(np.exp(t - mx)))) / (alpha - 1))


@dataclass(frozen=True)
class RoundMechanism:
    """One round as the accountant sees it: noise variance and sensitivities (integer domain)."""

    central_variance: float
    l2_sensitivity: float
    l1_sensitivity: float
    sampling_probability: float

    @property
    def noise_multiplier(self) -> float:
        return math.sqrt(self.central_variance) / self.l2_sensitivity

    def gaussian_event(self):
        dpa = _dp_accounting()
        return dpa.PoissonSampledDpEvent(self.sampling_probability,
                                         dpa.GaussianDpEvent(self.noise_multiplier))

    def skellam_rdp(self, orders: Sequence[int] = SKELLAM_ORDERS) -> np.ndarray:
        def rdp_at(a):
            return skellam_rdp(a, self.central_variance, self.l2_sensitivity, self.l1_sensitivity)
        return poisson_subsampled_rdp(orders, self.sampling_probability, rdp_at)


def epsilon_for(rounds: Sequence[tuple[RoundMechanism, int]], delta: float, mode: str = "skellam") -> float:
    """(eps at ``delta``) after composing each (mechanism, count) pair."""
    check_mode(mode)
    dpa = _dp_accounting()
    if any(m.central_variance <= 0 and m.sampling_probability > 0 and c > 0 for m, c in rounds):
        return math.inf
    if mode == "gaussian":
        acc = dpa.rdp.RdpAccountant()
        for mech, count in rounds:
            if count:
                acc.compose(mech.gaussian_event(), count)
        return float(acc.get_epsilon(delta))
    total = np.zeros(len(SKELLAM_ORDERS))
    for mech, count in rounds:
        if count:
            total = total + count * mech.skellam_rdp()
    if not np.any(total):
        return 0.0
    eps, _ = dpa.rdp.compute_epsilon(SKELLAM_ORDERS, total, delta)
    return float(eps)


@dataclass
class PrivacyLedger:
    """Tracks the epsilon spent round by round (what metrics.json records per round).

    Each :meth:`record_round` adds one round's mechanism (with the noise actually added: if
    fewer clients than planned contributed noise, that round's variance is lower and costs more).
    """

    delta: float
    mode: str = "skellam"
    history: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_mode(self.mode)
        self._rdp = np.zeros(len(SKELLAM_ORDERS))
        self._acc = _dp_accounting().rdp.RdpAccountant() if self.mode == "gaussian" else None
        self._cache: dict[RoundMechanism, np.ndarray] = {}
        self._infinite = False
        self._count = 0

    @property
    def rounds(self) -> int:
        return self._count

    def epsilon(self) -> float:
        """Epsilon spent so far, at :attr:`delta`."""
        if self._infinite:
            return math.inf
        if self._count == 0:
            return 0.0
        if self._acc is not None:
            return float(self._acc.get_epsilon(self.delta))
        eps, _ = _dp_accounting().rdp.compute_epsilon(SKELLAM_ORDERS, self._rdp, self.delta)
        return float(eps)

    def record_round(self, mechanism: RoundMechanism, round_index: int | None = None) -> float:
        """Add one round; returns the epsilon spent after it."""
        if mechanism.central_variance <= 0:
            self._infinite = True
        elif self._acc is not None:
            self._acc.compose(mechanism.gaussian_event(), 1)
        else:
            if mechanism not in self._cache:
                self._cache[mechanism] = mechanism.skellam_rdp()
            self._rdp = self._rdp + self._cache[mechanism]
        self._count += 1
        eps = self.epsilon()
        self.history.append({
            "round": self.rounds if round_index is None else int(round_index),
            "epsilon": eps,
            "delta": self.delta,
            "noise_multiplier": (mechanism.noise_multiplier if mechanism.central_variance > 0 else 0.0),
            "sampling_probability": mechanism.sampling_probability,
        })
        return eps
