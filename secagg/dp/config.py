"""DPConfig: the user-facing settings of distributed DP, validated when built, and its plan.

``sampling`` says how each round's clients are chosen, and the accountant analyses exactly that:
``"poisson"`` (default; each of the ``num_users`` clients joins independently with probability
q = ``clients_per_round / num_users``, so ``clients_per_round`` is the expected cohort) or
``"fixed"`` (exactly ``clients_per_round`` of ``num_users``, without replacement) or ``"cyclic"``
(each epoch, a data-independent permutation splits the users into ``num_users // clients_per_round``
blocks, one per round: each user takes part once per epoch, and the guarantee needs no
amplification, so it holds against the server too). The client
sampler of a run is built from this object (:meth:`DPConfig.sampling_plan`), so the two cannot
disagree.

Give either a target ``epsilon`` (the noise multiplier is calibrated so the *release* epsilon after
``rounds`` rounds meets it) or a ``noise_multiplier`` (the epsilons it spends are reported).
``epsilon=math.inf`` or ``noise_multiplier=0`` means no noise (no privacy from DP; the secure
aggregation is unchanged). ``delta`` defaults to min(1 / num_users, 1e-5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .._validate import check_float, check_int
from ..errors import PrivacyError
from .accounting import (
    ADJACENCY,
    RoundMechanism,
    _dp_accounting,
    check_mode,
    check_sampling,
    epsilon_for,
    pld_accountant,
    rdp_accountant,
    server_epsilon_for,
)
from .params import (
    DEFAULT_BETA,
    DEFAULT_MAX_INFLATION,
    DEFAULT_WRAP_PROBABILITY,
    DPParameters,
    derive_parameters,
)

MAX_NOISE_MULTIPLIER = 1e4
COHORT_CAP_TAIL = 1e-12
"""Poisson cohorts are sized for (integer layout, modulus) up to the Binomial quantile at 1 - this;
a larger cohort (probability <= this per round) aborts its round before any data is used."""
NOISE_SPLIT_QUANTILE = 0.01
"""Poisson runs split the noise over the Binomial quantile at this level (unless ``min_clients`` is
given), so ~99% of rounds get at least the planned noise; the rest are charged what they got."""


def default_noise_split(sampling: str, clients_per_round: int, num_users: int,
                        dropout_fraction: float = 0.0) -> int:
    """Over how many contributors to split the central noise so most rounds get all of it: the
    cohort (fixed) or its Binomial quantile at :data:`NOISE_SPLIT_QUANTILE` (Poisson), less the
    tolerated dropout fraction."""
    k = float(clients_per_round)
    if sampling == "poisson" and clients_per_round < num_users:
        from scipy.stats import binom

        k = float(binom.ppf(NOISE_SPLIT_QUANTILE, num_users, clients_per_round / num_users))
    return max(1, math.ceil(k * (1.0 - dropout_fraction)))


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
    sampling: str = "poisson"
    prior_releases: tuple[tuple[float, float, float], ...] = ()
    """Unsampled releases about the same users made besides the rounds (e.g. the DP popularity
    prior of :mod:`secagg.rec.prior`), each ``(central_variance, l2_sensitivity, l1_sensitivity)``
    of a one-round Skellam release with every user; composed into every epsilon of this plan,
    calibration included."""
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
        check_sampling(self.sampling)
        self._check_prior_releases()
        check_float("beta", self.beta, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=PrivacyError)
        check_float("wrap_probability", self.wrap_probability, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=PrivacyError)
        check_float("max_inflation", self.max_inflation, lo=0.0, lo_open=True, error=PrivacyError)

    def _check_prior_releases(self) -> None:
        releases = tuple(tuple(float(v) for v in r) for r in self.prior_releases)
        for r in releases:
            if len(r) != 3 or not all(math.isfinite(v) and v > 0 for v in r):
                raise PrivacyError("each prior release is (central_variance, l2_sensitivity, "
                                   f"l1_sensitivity), all > 0 and finite; got {r}")
        if releases and self.sampling == "cyclic":
            raise PrivacyError("a prior release cannot be composed with cyclic sampling's per-epoch "
                               "analysis; use poisson (clients_per_round = num_users for full participation)")
        object.__setattr__(self, "prior_releases", releases)

    def prior_mechanisms(self) -> list[RoundMechanism]:
        """The :attr:`prior_releases` as the accountant sees them: every user, no amplification,
        this run's adjacency (fixed sampling: replace one user)."""
        fixed = self.sampling == "fixed"
        return [RoundMechanism(central_variance=v, l2_sensitivity=l2, l1_sensitivity=l1,
                               sampling_probability=1.0, sampling=self.sampling,
                               population=self.num_users if fixed else 0,
                               sample_size=self.num_users if fixed else 0)
                for v, l2, l1 in self.prior_releases]

    @property
    def target_delta(self) -> float:
        return self._resolved_delta

    @property
    def sampling_probability(self) -> float:
        """q = clients_per_round / num_users (Poisson: each client's chance; fixed: m / N)."""
        return self.clients_per_round / self.num_users

    @property
    def cyclic_blocks(self) -> int:
        """Rounds per epoch of cyclic participation: N // m blocks of m or m + 1 users."""
        return max(1, self.num_users // self.clients_per_round)

    @property
    def cohort_cap(self) -> int:
        """The largest cohort the integer layout is sized for (fixed: exactly clients_per_round)."""
        if self.sampling == "cyclic":
            return -(-self.num_users // self.cyclic_blocks)
        if self.sampling == "fixed" or self.clients_per_round == self.num_users:
            return self.clients_per_round
        from scipy.stats import binom

        upper = int(binom.isf(COHORT_CAP_TAIL, self.num_users, self.sampling_probability)) + 1
        return max(self.clients_per_round, min(self.num_users, upper))

    @property
    def noise_split(self) -> int:
        """Over how many clients the central noise is split (``min_clients`` if given)."""
        if self.min_clients is not None:
            return self.min_clients
        return default_noise_split(self.sampling, self.clients_per_round, self.num_users)

    @property
    def adjacency(self) -> str:
        return ADJACENCY[self.sampling]

    def parameters(self, dim: int, noise_multiplier: float, layout: str = "modular") -> DPParameters:
        return derive_parameters(layout=layout,
            dim=dim, clip_norm=self.clip_norm, noise_multiplier=noise_multiplier,
            clients_per_round=self.cohort_cap, bits=self.bits, min_clients=self.noise_split,
            beta=self.beta, wrap_probability=self.wrap_probability, max_inflation=self.max_inflation)

    def round_mechanism(self, params: DPParameters, contributors: int | None = None, *,
                        population: int | None = None, sample_size: int | None = None) -> RoundMechanism:
        """The accountant's view of a round in which ``contributors`` clients added noise.

        Fixed-size rounds drew ``sample_size`` (default ``clients_per_round``) of ``population``
        (default ``num_users``; the networked server samples from the clients online)."""
        k = params.min_clients if contributors is None else min(contributors, params.min_clients)
        fixed = self.sampling != "poisson"  # fixed and cyclic rounds have a size and a population
        return RoundMechanism(central_variance=params.local_variance * k,
                              l2_sensitivity=params.l2_sensitivity,
                              l1_sensitivity=params.l1_sensitivity,
                              sampling_probability=self.sampling_probability,
                              sampling=self.sampling,
                              population=(population or self.num_users) if fixed else 0,
                              sample_size=(sample_size or self.clients_per_round) if fixed else 0)

    def epsilon_of(self, params: DPParameters, rounds: int | None = None) -> float:
        """Release epsilon after ``rounds`` (default: all planned) rounds with these parameters."""
        if params.central_variance <= 0:
            return math.inf
        count = self.rounds if rounds is None else rounds
        priors = [(m, 1) for m in self.prior_mechanisms()]
        return epsilon_for([*priors, (self.round_mechanism(params), count)], self.target_delta,
                           self.accountant)

    def server_epsilon_of(self, params: DPParameters, participations: int | None = None) -> float:
        """Epsilon against the server for a client in ``participations`` (default: all) rounds."""
        if params.central_variance <= 0:
            return math.inf
        if participations is not None:
            count = participations
        elif self.sampling == "cyclic":  # each user once per epoch
            count = -(-self.rounds // self.cyclic_blocks)
        else:
            count = self.rounds
        priors = self.prior_mechanisms()
        return server_epsilon_for([*priors, *[self.round_mechanism(params)] * count], count + len(priors),
                                  self.target_delta, self.accountant)

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
        rounds, delta = self.rounds, self.target_delta
        factor = 2.0 if self.sampling == "fixed" else 1.0  # replace-one: the sum moves by 2 Delta

        priors = [m.release_gaussian_event() for m in self.prior_mechanisms()]

        def event(z: float):
            main = _main_event(z)
            return dpa.ComposedDpEvent([*priors, main]) if priors else main

        def _main_event(z: float):
            inner = dpa.GaussianDpEvent(z / factor)
            if self.sampling == "cyclic":  # no amplification: the epochs a user takes part in
                return dpa.SelfComposedDpEvent(inner, -(-rounds // self.cyclic_blocks))
            if self.sampling == "fixed":
                return dpa.SelfComposedDpEvent(dpa.SampledWithoutReplacementDpEvent(
                    self.num_users, self.clients_per_round, inner), rounds)
            return dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(self.sampling_probability, inner), rounds)

        def rdp():
            return rdp_accountant(self.sampling)

        try:  # RDP first (cheap, looser: its z is an upper end for PLD), then PLD in a tight bracket
            z = dpa.calibrate_dp_mechanism(
                rdp, event, target, delta,
                bracket_interval=dpa.LowerEndpointAndGuess(1e-3, 1.0), tol=1e-5)
            if self.sampling != "fixed" and z < MAX_NOISE_MULTIPLIER:
                lo = z / 2
                while lo > z / 64 and _pld_epsilon(event(lo), delta) <= target:
                    lo /= 2
                if _pld_epsilon(event(lo), delta) > target:
                    z = dpa.calibrate_dp_mechanism(
                        pld_accountant, event, target, delta,
                        bracket_interval=dpa.ExplicitBracketInterval(lo, z), tol=1e-4 * z)
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


def _pld_epsilon(event, delta: float) -> float:
    acc = pld_accountant()
    acc.compose(event)
    return float(acc.get_epsilon(delta))


@dataclass(frozen=True)
class DPPlan:
    """A resolved configuration: parameters for a given update length and the planned epsilon."""

    config: DPConfig
    params: DPParameters
    planned_epsilon: float

    @property
    def noise_multiplier(self) -> float:
        return self.params.noise_multiplier

    @property
    def planned_epsilon_server(self) -> float:
        """Epsilon against the server for a client in every planned round (data-independent)."""
        return self.config.server_epsilon_of(self.params)

    def report(self) -> dict:
        out = self.params.report()
        c = self.config
        out.update(planned_epsilon=self.planned_epsilon, planned_epsilon_release=self.planned_epsilon,
                   planned_epsilon_server=self.planned_epsilon_server, delta=c.target_delta,
                   rounds=c.rounds, sampling=c.sampling, sampling_probability=c.sampling_probability,
                   clients_per_round=c.clients_per_round, cohort_cap=c.cohort_cap,
                   adjacency=c.adjacency, accountant=c.accountant, num_users=c.num_users,
                   prior_releases=[list(r) for r in c.prior_releases])
        return out

    def stored(self) -> dict:
        """What a run stores to refuse a later resume with different DP settings: the
        mechanism's parameters and the settings that define the accounting (not ``rounds``: a
        run may be extended with the same noise, its epsilon then grows)."""
        import dataclasses

        c = self.config
        accounting = {"sampling": c.sampling, "accountant": c.accountant, "delta": c.target_delta,
                      "num_users": c.num_users, "clients_per_round": c.clients_per_round}
        if c.prior_releases:  # absent when empty: plans stored before priors existed still resume
            accounting["prior_releases"] = [list(r) for r in c.prior_releases]
        return {"params": dataclasses.asdict(self.params), "accounting": accounting}

    def check_resumes(self, stored: dict) -> None:
        """Raise :class:`PrivacyError` unless this plan continues the run that stored ``stored``."""
        now = self.stored()
        diff = sorted(f"{part}.{k}" for part in ("accounting", "params")
                      for k in set(now[part]) | set(stored.get(part, {}))
                      if now[part].get(k) != stored.get(part, {}).get(k))
        if diff:
            old_z = stored.get("params", {}).get("noise_multiplier")
            raise PrivacyError(f"the run's stored DP plan differs in {', '.join(diff)}; resume with the "
                               f"stored settings (noise multiplier {old_z}; give --noise-multiplier "
                               f"{old_z} to extend it, its epsilon then grows) or start a new run")
