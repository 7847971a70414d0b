"""DPConfig: the user-facing settings of distributed DP, validated when built, and its plan.

Give either a target ``epsilon`` (the noise multiplier is calibrated for ``rounds`` rounds at
sampling rate ``clients_per_round / num_users``) or a ``noise_multiplier`` (the epsilon it
spends is reported). ``epsilon=math.inf`` or ``noise_multiplier=0`` means no noise (no privacy
from DP; the secure aggregation is unchanged). ``delta`` defaults to min(1 / num_users, 1e-5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .._validate import check_float, check_int
from ..errors import PrivacyError
from .accounting import RoundMechanism, _dp_accounting, check_mode, epsilon_for
from .params import (
    DEFAULT_BETA,
    DEFAULT_MAX_INFLATION,
    DEFAULT_WRAP_PROBABILITY,
    DPParameters,
    derive_parameters,
)

MAX_NOISE_MULTIPLIER = 1e4


def default_delta(num_users: int) -> float:
    """1 / num_users, or 1e-5 if smaller."""
    return min(1.0 / num_users, 1e-5)


@dataclass(frozen=True)
class DPConfig:
    """Distributed-DP settings for a training run (user-level: one user = one client)."""

    clip_norm: float
    clients_per_round: int
    num_users: int
    rounds: int
    epsilon: float | None = None
    noise_multiplier: float | None = None
    delta: float | None = None
    bits: int = 32
    min_clients: int | None = None
    accountant: str = "skellam"
    beta: float = DEFAULT_BETA
    wrap_probability: float = DEFAULT_WRAP_PROBABILITY
    max_inflation: float = DEFAULT_MAX_INFLATION
    _resolved_delta: float = field(init=False, repr=False, compare=False, default=0.0)

    def __post_init__(self) -> None:
        check_float("clip_norm", self.clip_norm, lo=0.0, lo_open=True, error=PrivacyError)
        n = check_int("clients_per_round", self.clients_per_round, lo=1, error=PrivacyError)
        users = check_int("num_users", self.num_users, lo=1, error=PrivacyError)
        if n > users:
            raise PrivacyError(f"clients_per_round ({n}) cannot exceed num_users ({users})")
        check_int("rounds", self.rounds, lo=1, error=PrivacyError)
        if (self.epsilon is None) == (self.noise_multiplier is None):
            raise PrivacyError("give exactly one of epsilon (to calibrate the noise) or "
                               "noise_multiplier (to report the epsilon it spends)")
        if self.epsilon is not None:
            eps = self.epsilon  # math.inf is allowed: no noise
            if isinstance(eps, bool) or not isinstance(eps, (int, float)) or math.isnan(eps) or eps <= 0:
                raise PrivacyError(f"epsilon must be > 0 (math.inf for no noise), got {eps!r}")
        if self.noise_multiplier is not None:
            check_float("noise_multiplier", self.noise_multiplier, lo=0.0, error=PrivacyError)
        delta = default_delta(users) if self.delta is None else check_float("delta", self.delta, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=PrivacyError)
        object.__setattr__(self, "_resolved_delta", delta)
        if self.min_clients is not None:
            m = check_int("min_clients", self.min_clients, lo=1, error=PrivacyError)
            if m > n:
                raise PrivacyError(f"min_clients ({m}) cannot exceed clients_per_round ({n})")
        check_int("bits", self.bits, lo=2, hi=64, error=PrivacyError)
        check_mode(self.accountant)
        check_float("beta", self.beta, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=PrivacyError)
        check_float("wrap_probability", self.wrap_probability, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=PrivacyError)
        check_float("max_inflation", self.max_inflation, lo=0.0, lo_open=True, error=PrivacyError)

    @property
    def target_delta(self) -> float:
        return self._resolved_delta

    @property
    def sampling_probability(self) -> float:
        return self.clients_per_round / self.num_users

    def parameters(self, dim: int, noise_multiplier: float, layout: str = "modular") -> DPParameters:
        return derive_parameters(layout=layout,
            dim=dim, clip_norm=self.clip_norm, noise_multiplier=noise_multiplier,
            clients_per_round=self.clients_per_round, bits=self.bits, min_clients=self.min_clients,
            beta=self.beta, wrap_probability=self.wrap_probability, max_inflation=self.max_inflation)

    def round_mechanism(self, params: DPParameters, contributors: int | None = None) -> RoundMechanism:
        """The accountant's view of a round in which ``contributors`` clients added noise."""
        k = params.min_clients if contributors is None else min(contributors, params.min_clients)
        return RoundMechanism(central_variance=params.local_variance * k,
                              l2_sensitivity=params.l2_sensitivity,
                              l1_sensitivity=params.l1_sensitivity,
                              sampling_probability=self.sampling_probability)

    def epsilon_of(self, params: DPParameters, rounds: int | None = None) -> float:
        """Epsilon after ``rounds`` (default: all planned) rounds with these parameters."""
        if params.central_variance <= 0:
            return math.inf
        count = self.rounds if rounds is None else rounds
        return epsilon_for([(self.round_mechanism(params), count)], self.target_delta, self.accountant)

    def plan(self, dim: int, layout: str = "modular") -> DPPlan:
        """Resolve the noise multiplier (calibrating it if a target epsilon was given) for ``dim``.

        ``layout``: ``"modular"`` or ``"offset"`` (see :mod:`secagg.dp.params`).
        """
        if self.noise_multiplier is not None:
            params = self.parameters(dim, float(self.noise_multiplier), layout)
            return DPPlan(self, params, self.epsilon_of(params))
        if math.isinf(self.epsilon):
            params = self.parameters(dim, 0.0, layout)
            return DPPlan(self, params, math.inf)
        target = float(self.epsilon)
        if self.accountant == "gaussian":
            return self._plan_gaussian(dim, layout, target)

        def eps_at(z: float) -> float:
            return self.epsilon_of(self.parameters(dim, z, layout))

        lo, hi = 1e-3, 1.0
        while eps_at(hi) > target:
            lo, hi = hi, hi * 2.0
            if hi > MAX_NOISE_MULTIPLIER:
                raise PrivacyError(f"epsilon={target:g} is not reachable in {self.rounds} rounds "
                                   f"with noise multiplier <= {MAX_NOISE_MULTIPLIER:g}; raise epsilon "
                                   "or lower rounds/clients_per_round")
        if eps_at(lo) <= target:
            hi = lo
        else:
            for _ in range(40):
                mid = math.sqrt(lo * hi)
                if eps_at(mid) > target:
                    lo = mid
                else:
                    hi = mid
                if hi / lo < 1.0 + 1e-4:
                    break
        params = self.parameters(dim, hi, layout)  # the upper end: epsilon <= target
        return DPPlan(self, params, self.epsilon_of(params))

    def _plan_gaussian(self, dim: int, layout: str, target: float) -> DPPlan:
        """The Gaussian accountant depends on z alone: calibrate it with dp-accounting directly."""
        dpa = _dp_accounting()
        q, rounds, delta = self.sampling_probability, self.rounds, self.target_delta

        def event(z: float):
            return dpa.SelfComposedDpEvent(
                dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(z)), rounds)

        try:
            z = dpa.calibrate_dp_mechanism(
                dpa.rdp.RdpAccountant, event, target, delta,
                bracket_interval=dpa.LowerEndpointAndGuess(1e-3, 1.0), tol=1e-5)
        except Exception as exc:  # no bracket found: unreachable target
            raise PrivacyError(f"epsilon={target:g} is not reachable in {rounds} rounds: {exc}") from None
        if z > MAX_NOISE_MULTIPLIER:
            raise PrivacyError(f"epsilon={target:g} needs noise multiplier {z:g} > "
                               f"{MAX_NOISE_MULTIPLIER:g}; raise epsilon or lower rounds")
        params = self.parameters(dim, float(z), layout)
        eps = self.epsilon_of(params)
        while eps > target:  # stay on the safe side of the tolerance
            z *= 1.0 + 1e-5
            params = self.parameters(dim, float(z), layout)
            eps = self.epsilon_of(params)
        return DPPlan(self, params, eps)


@dataclass(frozen=True)
class DPPlan:
    """A resolved configuration: parameters for a given update length and the planned epsilon."""

    config: DPConfig
    params: DPParameters
    planned_epsilon: float

    @property
    def noise_multiplier(self) -> float:
        return self.params.noise_multiplier

    def report(self) -> dict:
        out = self.params.report()
        out.update(planned_epsilon=self.planned_epsilon, delta=self.config.target_delta,
                   rounds=self.config.rounds, sampling_probability=self.config.sampling_probability,
                   accountant=self.config.accountant, num_users=self.config.num_users)
        return out
