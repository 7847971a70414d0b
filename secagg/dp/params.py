"""Scale, noise and modulus for the distributed Skellam mechanism, with a stated wrap probability.

Given the update length d (padded to d' = 2^k), the L2 clip norm c, the noise multiplier z, the
clients per round n (at most n upload; at least ``min_clients`` are guaranteed to add noise) and
the modulus 2^bits, :func:`derive_parameters` picks the scale s such that, with probability at
least 1 - ``wrap_probability``, no coordinate of the noisy integer sum leaves the signed range
[-2^(bits-1), 2^(bits-1) - 1] (where modular arithmetic would wrap it around). Per coordinate, the
sum is bounded by three parts, each by a union bound over the d' coordinates with p/2:

* signal: the rotated sum of clipped updates has norm <= n c s, and after the shared random
  rotation each coordinate is a Rademacher sum, so |coord| <= n c s min(1, sqrt(2 L / d')) with
  L = log(4 d' / p) (Hoeffding; no assumption on how the clients' updates relate);
* rounding: each client moves each coordinate by < 1, so < n in total (deterministic);
* noise: Skellam with total variance V (all n clients adding noise) obeys Bernstein's bound,
  |noise| <= L/3 + sqrt(L^2/9 + 2 L V).

That is the ``"modular"`` layout (the sum may use the whole modulus; the server reads it in the
signed range). Protocols that take per-client values in [0, Q) with n (Q - 1) < 2^bits need the
``"offset"`` layout instead: each client sends r + noise + K clamped to [0, 2K] with
K = floor((2^bits - 1) / (2n)), and the same three bounds, applied per client with
L = log(4 n d' / p) (signal c s min(1, sqrt(2 L / d')), rounding 1, noise with the local variance),
must stay within K, so that no clamp happens with probability >= 1 - p.

The integer noise is calibrated to the *rounded* L2 sensitivity Delta2 (see
:func:`secagg.dp.rounding.rounded_norm_bound`): central variance (z Delta2)^2, split evenly over
``min_clients``. s is the largest value meeting the wrap bound, but no larger than needed to make
the rounding's inflation of the sensitivity, Delta2 / (c s) - 1, at most ``max_inflation``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .._validate import check_float, check_int
from ..errors import PrivacyError
from .rotation import padded_dim
from .rounding import rounded_norm_bound

DEFAULT_BETA = math.exp(-0.5)
DEFAULT_WRAP_PROBABILITY = 1e-8
DEFAULT_MAX_INFLATION = 1e-3
MAX_EXACT = 2.0**52  # rounded values and their norms stay exact in float64
MAX_TOLERATED_INFLATION = 1.0  # noise more than ~1.41x the target: the bits are too few


@dataclass(frozen=True)
class DPParameters:
    """Everything a client and the server need to run one round of the mechanism."""

    dim: int
    padded_dim: int
    clip_norm: float
    noise_multiplier: float
    clients_per_round: int
    min_clients: int
    bits: int
    scale: float
    l2_sensitivity: float  # Delta2, integer domain (after scaling and rounding)
    l1_sensitivity: float  # Delta1 <= min(Delta2^2, sqrt(d') Delta2) for integer vectors
    central_variance: float  # per coordinate, when min_clients clients add noise
    local_variance: float  # per coordinate, per client
    offset: int  # modular: K >= max |rounded coordinate| (the native kernel quantizes r + K in
    # [0, 2K]); offset: K = floor((2^bits - 1) / (2n)), each client sends clamp(r + noise + K, 0, 2K)
    wrap_bound: float  # modular: bound on |noisy sum|; offset: bound on |r + noise| per client
    wrap_probability: float
    beta: float
    layout: str = "modular"

    @property
    def modulus(self) -> int:
        return 1 << self.bits

    @property
    def rounding_inflation(self) -> float:
        """Delta2 / (c s) - 1: how much rounding raises the sensitivity (and so the noise)."""
        return self.l2_sensitivity / (self.clip_norm * self.scale) - 1.0

    @property
    def noise_std(self) -> float:
        """Standard deviation per coordinate of the aggregate noise, in update units."""
        return math.sqrt(self.central_variance) / self.scale

    def report(self) -> dict:
        """The chosen values, for logs and metrics.json."""
        out = asdict(self)
        out.update(modulus_bits=self.bits, rounding_inflation=self.rounding_inflation,
                   noise_std=self.noise_std)
        return out


def _sensitivities(clip_norm: float, scale: float, dim: int, beta: float) -> tuple[float, float]:
    l2 = rounded_norm_bound(clip_norm * scale, dim, beta)
    return l2, min(l2 * l2, math.sqrt(dim) * l2)


def _wrap_bound(clip_norm: float, scale: float, dim: int, z: float, n: int, min_clients: int,
                beta: float, p: float) -> float:
    log_term = math.log(4.0 * dim / p)
    signal = n * clip_norm * scale * min(1.0, math.sqrt(2.0 * log_term / dim))
    l2, _ = _sensitivities(clip_norm, scale, dim, beta)
    total_var = n * (z * l2) ** 2 / min_clients
    noise = log_term / 3.0 + math.sqrt(log_term**2 / 9.0 + 2.0 * log_term * total_var)
    return signal + n + noise


def _client_bound(clip_norm: float, scale: float, dim: int, z: float, n: int, min_clients: int,
                  beta: float, p: float) -> float:
    log_term = math.log(4.0 * n * dim / p)
    signal = clip_norm * scale * min(1.0, math.sqrt(2.0 * log_term / dim))
    l2, _ = _sensitivities(clip_norm, scale, dim, beta)
    local_var = (z * l2) ** 2 / min_clients
    noise = log_term / 3.0 + math.sqrt(log_term**2 / 9.0 + 2.0 * log_term * local_var)
    return signal + 1.0 + noise


def _bisect_log(pred, lo: float, hi: float, iters: int = 200) -> float:
    """Largest x in [lo, hi] (log scale) with pred(x) true, given pred(lo) and not pred(hi)."""
    for _ in range(iters):
        mid = math.sqrt(lo * hi)
        if mid <= lo or mid >= hi:
            break
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return lo


def derive_parameters(*, dim: int, clip_norm: float, noise_multiplier: float,
                      clients_per_round: int, bits: int, min_clients: int | None = None,
                      beta: float = DEFAULT_BETA, wrap_probability: float = DEFAULT_WRAP_PROBABILITY,
                      max_inflation: float = DEFAULT_MAX_INFLATION,
                      layout: str = "modular") -> DPParameters:
    """Pick scale, noise and offsets; raise :class:`PrivacyError` if ``bits`` cannot hold the sum."""
    dim = check_int("dim", dim, lo=1, error=PrivacyError)
    c = check_float("clip_norm", clip_norm, lo=0.0, lo_open=True, error=PrivacyError)
    z = check_float("noise_multiplier", noise_multiplier, lo=0.0, error=PrivacyError)
    n = check_int("clients_per_round", clients_per_round, lo=1, error=PrivacyError)
    m = n if min_clients is None else check_int("min_clients", min_clients, lo=1, error=PrivacyError)
    if m > n:
        raise PrivacyError(f"min_clients ({m}) cannot exceed clients_per_round ({n})")
    bits = check_int("bits (the modulus is 2**bits)", bits, lo=2, hi=64, error=PrivacyError)
    beta = check_float("beta", beta, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=PrivacyError)
    p = check_float("wrap_probability", wrap_probability, lo=0.0, hi=1.0, lo_open=True, hi_open=True, error=PrivacyError)
    infl = check_float("max_inflation", max_inflation, lo=0.0, lo_open=True, error=PrivacyError)
    if layout not in ("modular", "offset"):
        raise PrivacyError(f"layout must be 'modular' or 'offset', got {layout!r}")
    dp = padded_dim(dim)
    if layout == "modular":
        limit = 2.0 ** (bits - 1) - 1.0
        bound_fn = _wrap_bound
    else:
        limit = float(((1 << bits) - 1) // (2 * n))
        bound_fn = _client_bound

    def fits(s: float) -> bool:
        return bound_fn(c, s, dp, z, n, m, beta, p) <= limit

    def fine(s: float) -> bool:
        l2, _ = _sensitivities(c, s, dp, beta)
        return l2 / (c * s) - 1.0 <= infl

    s_max = MAX_EXACT / (4.0 * c * math.sqrt(dp))
    s_min = 1e-9 / c
    # the smallest scale with inflation <= max_inflation (inflation falls as s grows)
    s_fine = s_max if not fine(s_max) else _bisect_log(lambda s: not fine(s), s_min, s_max)
    s_fine = min(s_max, s_fine * (1.0 + 1e-12))
    if fits(s_fine):
        scale = s_fine
    else:
        scale = _bisect_log(fits, s_min, s_fine) if fits(s_min) else s_min
        l2, _ = _sensitivities(c, scale, dp, beta)
        if not fits(scale) or l2 / (c * scale) - 1.0 > MAX_TOLERATED_INFLATION:
            worst = bound_fn(c, s_fine, dp, z, n, m, beta, p)
            need = math.ceil(math.log2(2.0 * (worst + 1.0) * (n if layout == "offset" else 1)))
            raise PrivacyError(
                f"bits={bits} cannot hold the noisy sum of {n} clients (dim {dim}, noise "
                f"multiplier {z:g}) without wrap-around or rounding that more than doubles the "
                f"noise variance; use bits >= {need}")
    l2, l1 = _sensitivities(c, scale, dp, beta)
    central = (z * l2) ** 2
    return DPParameters(
        dim=dim, padded_dim=dp, clip_norm=c, noise_multiplier=z, clients_per_round=n,
        min_clients=m, bits=bits, scale=scale, l2_sensitivity=l2, l1_sensitivity=l1,
        central_variance=central, local_variance=central / m,
        offset=int(math.ceil(l2)) if layout == "modular" else int(limit),
        wrap_bound=bound_fn(c, scale, dp, z, n, m, beta, p), wrap_probability=p, beta=beta,
        layout=layout)
