r"""Choosing the graph degree k and the Shamir threshold t (Bell et al. 2020; Google fcp's finder).

Notation: n clients, corrupt fraction :math:`\gamma` (clients colluding with the server), dropout
fraction :math:`\delta`; :math:`A = \lceil \gamma n \rceil` corrupt clients,
:math:`D = \lceil \delta n \rceil` dropouts, :math:`S = n - D` survivors (rounded in the
conservative direction; Google's finder floors, which for small n assumes no dropout at all),
:math:`B = A + D` "bad" clients. Security :math:`\sigma = 40` bits (split over two bad events, so
each gets :math:`2^{-41}`), correctness :math:`\eta = 20` bits. The corrupt and dropped sets are
uniformly random with respect to the randomly permuted Harary graph H(n, k), so the number of
corrupt (surviving) neighbours of a client is hypergeometric
:math:`X \sim \mathrm{HG}(n, A, k)` (:math:`Y \sim \mathrm{HG}(n, S, k)`).

SecAgg+ on H(n, k), k even, searched upward from k = 2 (the smallest feasible k wins):

1. *Honest survivors stay connected.* Removing nodes disconnects H(n, k) only if k/2 consecutive
   ring nodes are removed in two places; there are :math:`n(n-k-1)/2` such pairs of gaps, and all k
   nodes of one pair are bad with probability :math:`\binom{B}{k} / \binom{n}{k}`. Require
   :math:`\frac{n(n-k-1)}{2}\binom{B}{k}/\binom{n}{k} < 2^{-41}` (union bound).
2. *No honest secret leaks.* :math:`t_1` is the smallest t with
   :math:`\Pr[X > t_1] \le 2^{-41}/n` (union bound over clients); a semi-honest server then holds
   at most :math:`t_1` shares of any honest client, so :math:`t \ge t_1 + 1`. An active server can in
   addition get one kind of share from each honest member of the client's sharing group - its k
   neighbours *and the client itself*, which holds its own shares - by showing them different
   survivor sets, while corrupt members give both kinds. With X corrupt neighbours the honest
   members number k + 1 - X, so both kinds reach t only if :math:`2t \le k + 1 + X`; requiring
   :math:`2t > k + 1 + t_1`, i.e. :math:`t \ge \lfloor (k + 1 + t_1)/2 \rfloor + 1`, leaves a
   victim exposed with probability :math:`\Pr[X \ge 2t - k - 1] \le \Pr[X > t_1]`.
   (Before this was fixed the bound read :math:`2t > k + t_1`, one short: the owner's own shares
   were not counted.)
3. *Every secret can be rebuilt.* :math:`t_2` is the largest t with
   :math:`\Pr[Y \le t - 1] \le 2^{-20}/n`, i.e. every client keeps at least t surviving neighbours
   except with probability :math:`2^{-20}`. Require :math:`t \le t_2`.

*Graph seeds an active server can choose among.* In the active model the graph seed comes from
the clients (commit-reveal, :mod:`secagg.protocol.graphseed`); a server can still steer it a
little, by leaving committed clients out after their nonces are revealed, among at most
:math:`2^{\tau}` seeds, :math:`\tau` = ``SEED_TRIES_BITS`` = 20 (clients refuse a session that
allows more). Each try is a fresh draw of the graph, so both security events above get
:math:`2^{-(41 + \tau)}` instead of :math:`2^{-41}` (union bound over the tries).

The finder returns the smallest feasible k and :math:`t = \max(t_{\min}, 2)`. Every probability is
compared *exactly*, with integer binomials (``math.comb``), so no floating-point rounding can tip a
bound in the insecure direction and scipy is not needed at run time. When no k < n - 1 is feasible
(small cohorts), the complete graph is used.

SecAgg on the complete graph (shares held by all n clients): the server may hold all A corrupt
clients' shares, so :math:`t = A + 1` (semi-honest) or :math:`t = \lfloor (n + A)/2 \rfloor + 1`
(active: :math:`2t > n + A`), and at least 2. The protocol aborts if fewer than t clients remain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

from .._validate import check_choice, check_float, check_int, check_optional_int, check_options
from ..errors import ConfigError
from .graphs import GRAPH_COMPLETE, GRAPH_HARARY

SECURITY_BITS = 40
CORRECTNESS_BITS = 20
SEED_TRIES_BITS = 20
"""log2 of the most graph seeds an active server may choose among; clients refuse more."""
THREAT_MODELS = ("honest-but-curious", "active")


@dataclass(frozen=True)
class GraphParameters:
    """A graph choice: ``kind`` is ``"complete"`` or ``"harary"``; ``degree`` excludes the client;
    ``max_dropouts`` is the most clients the session tolerates losing (the finder's D; clients of an
    active session refuse a survivor set smaller than n - D)."""

    kind: str
    degree: int
    threshold: int
    max_dropouts: int = 0


def check_fractions(corrupt_fraction: float, dropout_fraction: float, threat_model: str) -> None:
    for name, v in (("corrupt_fraction", corrupt_fraction), ("dropout_fraction", dropout_fraction)):
        check_float(name, v, lo=0.0, hi=1.0, hi_open=True)
    check_choice("threat_model", threat_model, THREAT_MODELS)


@dataclass(frozen=True)
class ProtocolOptions:
    """How SecAgg / SecAgg+ sessions are set up beyond quantization, checked when built.

    ``num_neighbors`` and ``threshold`` override the parameter finder (None: it chooses).
    """

    threat_model: str = "honest-but-curious"
    corrupt_fraction: float = 0.05
    dropout_fraction: float = 0.1
    num_neighbors: int | None = None
    threshold: int | None = None

    def __post_init__(self) -> None:
        check_fractions(self.corrupt_fraction, self.dropout_fraction, self.threat_model)
        object.__setattr__(self, "corrupt_fraction", float(self.corrupt_fraction))
        object.__setattr__(self, "dropout_fraction", float(self.dropout_fraction))
        object.__setattr__(self, "num_neighbors", check_optional_int("num_neighbors", self.num_neighbors, lo=2))
        object.__setattr__(self, "threshold", check_optional_int("threshold", self.threshold, lo=1))

    @classmethod
    def from_options(cls, owner: str, options: Mapping[str, Any]) -> ProtocolOptions:
        """Build from keyword options; a name that is not a field is a ConfigError naming the closest."""
        check_options(owner, options, [f.name for f in fields(cls)])
        return cls(**options)

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of :func:`secagg.simulate` / ``make_session``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _counts(n: int, gamma: float, delta: float) -> tuple[int, int, int]:
    """(A, D, S): corrupt clients and dropouts rounded *up* (the conservative direction for both
    security and correctness; e.g. 10% of 8 clients counts as one dropout, not zero)."""
    eps = 1e-9  # keeps e.g. 0.1 * 1000 from rounding up to 101
    adversarial = min(n, math.ceil(gamma * n - eps))
    dropouts = min(n, math.ceil(delta * n - eps))
    return adversarial, dropouts, n - dropouts


def upper_tail_quantile(total: int, marked: int, draws: int, bits: int) -> int:
    """Smallest t >= 0 with Pr[X > t] <= 2^-bits / total, X ~ HG(total, marked, draws).

    Weights C(marked, x) C(total - marked, draws - x) (they sum to C(total, draws)) are walked
    down from the largest possible x with exact integer recurrences.
    """
    bound = math.comb(total, draws)  # Pr[X > t] <= 2^-bits / total  <=>  tail * total * 2^bits <= C
    other = total - marked
    x = min(marked, draws)
    a, b = math.comb(marked, x), math.comb(other, draws - x)
    tail = 0  # weight of X > x
    while x > 0 and (tail + a * b) * total << bits <= bound:
        tail += a * b
        if draws - x + 1 > other:
            return x - 1  # no mass below x: the remaining tail is everything
        a = a * x // (marked - x + 1)
        b = b * (other - draws + x) // (draws - x + 1)
        x -= 1
    return x


def lower_tail_limit(total: int, marked: int, draws: int, bits: int) -> int:
    """Largest t with Pr[Y <= t - 1] <= 2^-bits / total, Y ~ HG(total, marked, draws)."""
    bound = math.comb(total, draws)
    other = total - marked
    x = max(0, draws - other)  # smallest possible value of Y; Pr[Y <= x - 1] = 0
    a, b = math.comb(marked, x), math.comb(other, draws - x)
    cdf = 0  # weight of Y <= x - 1
    while x <= min(marked, draws) and (cdf + a * b) * total << bits <= bound:
        cdf += a * b
        a = a * (marked - x) // (x + 1)
        b = b * (draws - x) // (other - draws + x + 1) if other - draws + x + 1 > 0 else 0
        x += 1
    return x


def harary_disconnect_ok(n: int, degree: int, bad: int, bits: int) -> bool:
    """n(n-k-1)/2 * C(bad, k) / C(n, k) < 2^-bits, exactly."""
    if degree > bad:
        return True
    return n * (n - degree - 1) * math.comb(bad, degree) << bits < 2 * math.comb(n, degree)


def event_bits(threat_model: str, kind: str) -> int:
    """Security bits of each of the two bad events: 41, plus the graph-seed tries an active server
    has on a Harary graph (see the module docstring)."""
    return SECURITY_BITS + 1 + (SEED_TRIES_BITS if threat_model == "active" and kind == GRAPH_HARARY else 0)


def _threshold_for(degree: int, t1: int, threat_model: str) -> int:
    """The smallest t that keeps a group of ``degree + 1`` safe when at most ``t1`` are corrupt."""
    t = t1 + 1 if threat_model == "honest-but-curious" else (degree + 1 + t1) // 2 + 1
    return max(t, 2)


def harary_min_threshold(n: int, degree: int, corrupt: int, dropouts: int, threat_model: str) -> int | None:
    """The smallest secure threshold on H(n, ``degree``) with ``corrupt`` corrupt clients and at
    most ``dropouts`` dropouts, or None when the degree is too small for any threshold (the honest
    survivors could be disconnected)."""
    bits = event_bits(threat_model, GRAPH_HARARY)
    if not harary_disconnect_ok(n, degree, corrupt + dropouts, bits):
        return None
    return _threshold_for(degree, upper_tail_quantile(n, corrupt, degree, bits), threat_model)


def check_harary_degree(n: int, degree: int, corrupt_fraction: float, dropout_fraction: float,
                        threat_model: str) -> int | None:
    """The threshold that makes H(n, ``degree``) secure and correct, or None if none does."""
    adversarial, dropouts, survivors = _counts(n, corrupt_fraction, dropout_fraction)
    t_min = harary_min_threshold(n, degree, adversarial, dropouts, threat_model)
    if t_min is None or t_min > lower_tail_limit(n, survivors, degree, CORRECTNESS_BITS):
        return None
    return t_min


def complete_min_threshold(n: int, corrupt: int, threat_model: str) -> int:
    """The smallest secure threshold on the complete graph of n clients, ``corrupt`` of them corrupt:
    the whole cohort is every client's sharing group (see the module docstring)."""
    return _threshold_for(n - 1, corrupt, threat_model)


def complete_threshold(n: int, corrupt_fraction: float, threat_model: str) -> int:
    """The smallest secure threshold on the complete graph of n clients (see module docstring)."""
    t = complete_min_threshold(n, _counts(n, corrupt_fraction, 0.0)[0], threat_model)
    if t > n:
        raise ConfigError(f"no secure threshold exists for n={n} clients with corrupt_fraction="
                          f"{corrupt_fraction} under the {threat_model} model; lower "
                          "corrupt_fraction or add clients")
    return t


def min_threshold(n: int, kind: str, degree: int, corrupt_fraction: float, max_dropouts: int,
                  threat_model: str) -> int | None:
    """The smallest threshold that is secure for this graph when a fraction ``corrupt_fraction`` of
    the n clients collude with the server and at most ``max_dropouts`` drop out; None when no
    threshold makes this Harary degree secure. Clients apply it to a server's proposal under their
    own policy (:class:`~secagg.protocol.policy.ClientPolicy`); the finder applies it to overrides."""
    corrupt = _counts(n, corrupt_fraction, 0.0)[0]
    if kind == GRAPH_COMPLETE:
        return complete_min_threshold(n, corrupt, threat_model)
    return harary_min_threshold(n, degree, corrupt, max_dropouts, threat_model)


def exposure_probability(n: int, degree: int, threshold: int, corrupt: int, threat_model: str) -> Fraction:
    """Exact probability that one honest client's shares can be gathered for both kinds (active) or
    for either kind (honest-but-curious) by a server colluding with ``corrupt`` random clients:
    ``Pr[X >= 2t - k - 1]`` resp. ``Pr[X >= t]`` for X ~ HG(n, corrupt, k) corrupt neighbours."""
    need = 2 * threshold - degree - 1 if threat_model == "active" else threshold
    total = math.comb(n - 1, degree)  # the k neighbours among the n - 1 other clients
    others = n - 1 - corrupt
    weight = sum(math.comb(corrupt, x) * math.comb(others, degree - x)
                 for x in range(max(need, 0), min(corrupt, degree) + 1))
    return Fraction(weight, total)


def find_parameters(n: int, *, corrupt_fraction: float = 0.05, dropout_fraction: float = 0.1,
                    threat_model: str = "honest-but-curious", complete: bool = False,
                    num_neighbors: int | None = None, threshold: int | None = None) -> GraphParameters:
    """Graph and threshold for n clients; ``complete=True`` forces SecAgg's complete graph.

    ``num_neighbors`` / ``threshold`` override the computed values (validated, not re-derived).
    """
    n = check_int("the number of clients in a session", n, lo=2)
    check_fractions(corrupt_fraction, dropout_fraction, threat_model)
    if threat_model == "active" and corrupt_fraction + 2 * dropout_fraction > 0.9 or (
            corrupt_fraction + dropout_fraction > 0.9):
        raise ConfigError("infeasible: need corrupt_fraction + dropout_fraction <= 0.9 "
                          "(corrupt_fraction + 2 * dropout_fraction <= 0.9 for the active model)")
    kind, degree = "complete", n - 1
    if num_neighbors is not None:
        num_neighbors = check_int("num_neighbors", num_neighbors, lo=2)
        if num_neighbors < n - 1 and not complete:
            if num_neighbors % 2:
                raise ConfigError(f"num_neighbors must be even for a Harary graph, got {num_neighbors}")
            kind, degree = "harary", num_neighbors
    elif not complete:
        for k in range(2, n - 1, 2):
            if check_harary_degree(n, k, corrupt_fraction, dropout_fraction, threat_model):
                kind, degree = "harary", k
                break
    if threshold is None:
        if kind == "complete":
            threshold = complete_threshold(n, corrupt_fraction, threat_model)
        else:
            found = check_harary_degree(n, degree, corrupt_fraction, dropout_fraction, threat_model)
            if found is None:
                raise ConfigError(f"num_neighbors={degree} is not secure and correct for n={n}, "
                                  f"corrupt_fraction={corrupt_fraction}, dropout_fraction="
                                  f"{dropout_fraction}; pass threshold= explicitly or raise it")
            threshold = found
    threshold = check_int("threshold (at most the size of a sharing group, degree + 1)", threshold,
                          lo=1, hi=degree + 1)
    max_dropouts = _counts(n, corrupt_fraction, dropout_fraction)[1]
    if threat_model == "active":  # the same check every honest client makes (ClientPolicy)
        _check_active_override(n, kind, degree, threshold, corrupt_fraction, dropout_fraction, max_dropouts)
    return GraphParameters(kind, degree, threshold, max_dropouts)


def _check_active_override(n: int, kind: str, degree: int, threshold: int, corrupt_fraction: float,
                           dropout_fraction: float, max_dropouts: int) -> None:
    lowest = min_threshold(n, kind, degree, corrupt_fraction, max_dropouts, "active")
    if lowest is None:
        raise ConfigError(f"num_neighbors={degree} is too small to be secure for n={n}, corrupt_fraction="
                          f"{corrupt_fraction}, dropout_fraction={dropout_fraction}: the honest "
                          "survivors' graph could be disconnected; raise it or let the finder choose")
    if threshold < lowest:
        raise ConfigError(f"threshold {threshold} is too low for the active threat model with "
                          f"{degree} neighbours and corrupt_fraction={corrupt_fraction}: honest clients "
                          f"refuse it; use threshold >= {lowest} or let the finder choose")
