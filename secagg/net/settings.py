"""Settings of a networked training run, validated when built."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dp.config import DPConfig
from ..errors import ConfigError, PrivacyError
from ..protocol.params import THREAT_MODELS, check_fractions
from ..rec.client import LocalConfig

PROTOCOLS = ("secagg", "secagg+")


@dataclass(frozen=True)
class ServerSettings:
    """What the server decides for every round.

    ``stage_timeout`` bounds each protocol stage after the first; ``training_timeout`` bounds the
    first (it includes local training). Both grow with the cohort: a stage over ``n`` sampled
    clients gets ``timeout + timeout_per_client * n`` seconds (see :meth:`stage_deadline`), since
    the server handles every reply (and, in the first stage, every model download) in turn. A client that owes a reply and has not contacted the
    server for ``liveness_timeout`` seconds is treated as dropped, so the stage can close early
    (one that took the stage's task and is working on it: :meth:`working_silence`).
    ``min_clients`` clients must be online before a round starts. ``max_aborted_rounds``
    consecutive aborted rounds end the run as failed. ``keep_round_sums``: rounds whose aggregate
    the database keeps (None: as many as ``keep_versions``). ``calls_per_client``: calls one client
    may have in flight at once (more are refused, so no client can hold the RPC threads).
    """

    n_items: int
    factors: int = 16
    clients_per_round: int = 20
    min_clients: int = 3
    protocol: str = "secagg+"
    threat_model: str = "active"
    corrupt_fraction: float = 0.05
    dropout_fraction: float = 0.3
    quantization_range: int = 2**16
    training: LocalConfig = field(default_factory=LocalConfig)
    server_optimizer: str = "fedavg"
    server_lr: float = 1.0
    stage_timeout: float = 10.0
    training_timeout: float = 30.0
    timeout_per_client: float = 0.05
    liveness_timeout: float = 10.0
    poll_wait: float = 1.0
    seed: int = 0
    keep_versions: int = 5
    keep_round_sums: int | None = None
    max_aborted_rounds: int = 10
    calls_per_client: int = 4
    max_message_bytes: int | None = None
    init_scale: float = 0.1
    dp: DPConfig | None = None  # distributed DP (Skellam), accounted per round; None: off

    def __post_init__(self) -> None:
        if self.n_items < 1 or self.factors < 1:
            raise ConfigError("n_items and factors must be >= 1")
        if self.min_clients < 2 or self.clients_per_round < self.min_clients:
            raise ConfigError("need 2 <= min_clients <= clients_per_round")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol must be one of {PROTOCOLS}")
        if self.threat_model not in THREAT_MODELS:
            raise ConfigError(f"threat_model must be one of {THREAT_MODELS}")
        check_fractions(self.corrupt_fraction, self.dropout_fraction, self.threat_model)
        for name in ("stage_timeout", "training_timeout", "liveness_timeout", "poll_wait"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 seconds")
        if self.keep_versions < 1:
            raise ConfigError("keep_versions must be >= 1")
        if self.keep_round_sums is not None and self.keep_round_sums < 0:
            raise ConfigError("keep_round_sums must be >= 0")
        if not self.timeout_per_client >= 0:
            raise ConfigError("timeout_per_client must be >= 0 seconds")
        if self.max_aborted_rounds < 1:
            raise ConfigError("max_aborted_rounds must be >= 1")
        if self.calls_per_client < 1:
            raise ConfigError("calls_per_client must be >= 1")
        if self.dp is not None and (self.dp.clients_per_round < self.clients_per_round
                                    or self.dp.clip_norm != self.training.clip_norm):
            raise ConfigError("the DP config must plan for clients_per_round clients and use the "
                              "training clip_norm")
        if self.dp is not None and self.dp.sampling == "cyclic":
            raise PrivacyError("the networked server draws cohorts from the clients online, so it cannot "
                               "promise cyclic participation; use --dp-sampling poisson or fixed")
        if self.max_message_bytes is not None and self.max_message_bytes < 1024:
            raise ConfigError("max_message_bytes must be >= 1024")

    def stage_deadline(self, first: bool, cohort: int) -> float:
        """Seconds a stage stays open for ``cohort`` sampled clients (``first``: the stage that
        includes local training): the base timeout plus ``timeout_per_client`` per client."""
        base = self.training_timeout if first else self.stage_timeout
        return base + self.timeout_per_client * cohort

    def working_silence(self, cohort: int) -> float:
        """Seconds a client that took its stage's task may stay silent while it works on it before
        it counts as dropped: ``liveness_timeout`` plus ``timeout_per_client`` per sampled client
        (its work, like the server's, grows with the cohort: SecAgg+ neighbours to verify, share
        with and encrypt for). A client that did not take the task gets ``liveness_timeout``."""
        return self.liveness_timeout + self.timeout_per_client * cohort

    @property
    def vector_length(self) -> int:
        return self.n_items * (self.factors + 1)

    @property
    def message_limit(self) -> int:
        """Largest accepted request: a masked vector of 64-bit words plus slack, by default."""
        if self.max_message_bytes is not None:
            return self.max_message_bytes
        return 16 * self.vector_length + (1 << 20)  # DP pads to a power of two (< 2x)
