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
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validate import check_float
from ..errors import ConfigError, UnsafeRequestError
from .config import SessionConfig
from .params import min_threshold


@dataclass(frozen=True)
class ClientPolicy:
    """A client's own security assumptions: the fraction of the cohort it assumes may collude, and
    whether it takes part in sessions that trust the server to follow the protocol."""

    corrupt_fraction: float = 0.05
    require_active: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "corrupt_fraction",
                           check_float("corrupt_fraction", self.corrupt_fraction, lo=0.0, hi=1.0, hi_open=True))
        if type(self.require_active) is not bool:
            raise ConfigError(f"require_active must be True or False, got {self.require_active!r}")

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
