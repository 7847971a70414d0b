"""What an honest client accepts from a server, under its own assumptions.

In the active threat model the server proposes the graph and the threshold; a client does not take
them on trust. It recomputes, with the library's parameter finder, the smallest threshold that is
safe for the proposed graph when a fraction ``corrupt_fraction`` of the cohort colludes with the
server (its own belief, not the server's) and at most the proposed ``max_dropouts`` drop out, and
refuses a session below it (:class:`~secagg.errors.UnsafeRequestError`). For the complete graph
that is ``2t > n + A``; for SecAgg+ ``2t > k + 1 + t_1``, with the 2^20 graph seeds a server may
still choose among counted in ``t_1`` (:mod:`secagg.protocol.params`).

With ``require_active`` a client also refuses honest-but-curious sessions, whose privacy holds only
if the server follows the protocol (the network client sets it unless told otherwise).

With ``min_noise_multiplier`` z a client takes part only in distributed-DP rounds whose noise, counted
over the contributors it can rely on, is at least z times the L2 sensitivity of one update
(:meth:`ClientPolicy.check_noise`). The server proposes the noise, the cohort and the threshold; the
client relies only on what it enforces itself: the sum it joins holds at least
:meth:`ClientPolicy.guaranteed_contributors` inputs (the threshold, or n - D survivors for an active
SecAgg+ graph), of which all but ``ceil(corrupt_fraction * n)`` add their noise honestly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._validate import check_float
from ..errors import ConfigError, NoiseFloorError, UnsafeRequestError
from .config import SessionConfig
from .params import min_threshold


@dataclass(frozen=True)
class ClientPolicy:
    """A client's own security assumptions: the fraction of the cohort it assumes may collude, and
    whether it takes part in sessions that trust the server to follow the protocol."""

    corrupt_fraction: float = 0.05
    require_active: bool = False
    min_noise_multiplier: float | None = None  # distributed DP: the least noise this client accepts

    def __post_init__(self) -> None:
        object.__setattr__(self, "corrupt_fraction",
                           check_float("corrupt_fraction", self.corrupt_fraction, lo=0.0, hi=1.0, hi_open=True))
        if type(self.require_active) is not bool:
            raise ConfigError(f"require_active must be True or False, got {self.require_active!r}")
        if self.min_noise_multiplier is not None:
            object.__setattr__(self, "min_noise_multiplier", check_float(
                "min_noise_multiplier", self.min_noise_multiplier, lo=0.0, lo_open=True))

    def guaranteed_contributors(self, config: SessionConfig) -> int:
        """The fewest inputs a sum this client joins can hold, by the checks it makes itself: every
        survivor set it signs keeps at least the threshold of its group, and an active SecAgg+
        client also refuses fewer than n - D survivors."""
        if config.clients_draw_graph_seed:
            return max(config.threshold, len(config.client_ids) - config.max_dropouts)
        return config.threshold

    def colluders(self, config: SessionConfig) -> int:
        """How many of the session's clients this client assumes may collude with the server
        (``ceil(corrupt_fraction * n)``); they may add no noise."""
        return math.ceil(self.corrupt_fraction * len(config.client_ids))

    def honest_noise_multiplier(self, config: SessionConfig, local_variance: float, sensitivity: float) -> float:
        """The noise multiplier this client can count on: the noise of the guaranteed contributors
        less its assumed :meth:`colluders`, over the L2 sensitivity of one update, both in the
        integer units the noise is added in."""
        honest = max(0, self.guaranteed_contributors(config) - self.colluders(config))
        return math.sqrt(honest * local_variance) / sensitivity

    def check_noise(self, config: SessionConfig, local_variance: float | None, sensitivity: float | None) -> float | None:
        """Refuse (:class:`NoiseFloorError`) a session below ``min_noise_multiplier``; ``None`` for
        the noise terms means the round adds no DP noise. Returns the multiplier counted on (or None)."""
        if local_variance is None or sensitivity is None:
            if self.min_noise_multiplier is not None:
                raise NoiseFloorError(
                    f"this client requires distributed-DP noise of at least {self.min_noise_multiplier:g} x the "
                    "sensitivity, and the server proposes a round without DP noise")
            return None
        z = self.honest_noise_multiplier(config, local_variance, sensitivity)
        if self.min_noise_multiplier is not None and z < self.min_noise_multiplier:
            raise NoiseFloorError(
                f"the server's DP noise gives noise multiplier {z:.3g} over the {self.guaranteed_contributors(config)} "
                f"contributors this client can count on (of {len(config.client_ids)}; less {self.colluders(config)} "
                "assumed colluders), below this "
                f"client's floor {self.min_noise_multiplier:g}: it refuses the round (raise the server's noise, "
                "or lower the floor knowingly)")
        return z

    def check(self, config: SessionConfig) -> None:
        """Refuse an active session whose graph or threshold is unsafe under this policy (and, with
        ``require_active``, any honest-but-curious session)."""
        if not config.active:
            if self.require_active:
                raise UnsafeRequestError(
                    "the server proposes an honest-but-curious session, private only if the server follows "
                    "the protocol; this client requires the active threat model (run the server with "
                    "--threat-model active, or let the client accept it: --accept-honest-but-curious)")
            return  # honest-but-curious: the server is trusted to follow the protocol
        n = len(config.client_ids)
        lowest = min_threshold(n, config.graph_kind, config.degree, self.corrupt_fraction,
                               config.max_dropouts, config.threat_model)
        if lowest is None:
            raise UnsafeRequestError(
                f"a SecAgg+ graph of degree {config.degree} on {n} clients with up to {config.max_dropouts} "
                f"dropouts is not secure if {self.corrupt_fraction:.0%} of the clients collude: the honest "
                "survivors could be cut apart; this client refuses the session")
        if config.threshold < lowest:
            raise UnsafeRequestError(
                f"threshold {config.threshold} is too low for the active threat model with "
                f"{config.degree} neighbours: if {self.corrupt_fraction:.0%} of the clients collude, a "
                f"server could gather both kinds of a client's shares; this client needs t >= {lowest}")
