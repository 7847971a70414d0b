"""The client state machine: R0 advertise keys -> [graph seed, active SecAgg+] -> R1 share keys ->
R2 masked input -> [R3 consistency check, active] -> R4 unmasking -> [exclusion, active, only after
a conviction] -> completed (or aborted at any point). On completion or abort the client forgets
every secret of the session; an active client keeps its masking key pair after round 4 for a
possible exclusion request, until the session's client object is dropped."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ..._validate import check_client_id
from ...core.crypto import IdentityKey
from ...core.prg import check_seed
from ...errors import (
    AbortedError,
    ConfigError,
    ProtocolError,
    ReplayError,
    SecAggError,
)
from ..config import NoisePlan
from ..messages import (
    AbortMessage,
    AdvertiseKeysRequest,
    ConsistencyCheckRequest,
    ExclusionRequest,
    GraphSeedRequest,
    MaskedInputRequest,
    Message,
    ShareKeysRequest,
    UnmaskingRequest,
    decode,
    expect,
)
from ..policy import ClientPolicy
from ..stage import Stage
from . import (
    exclusion,
    graph_seed,
    r0_advertise_keys,
    r1_share_keys,
    r2_masked_input,
    r3_consistency_check,
    r4_unmasking,
)
from .context import ClientContext


class ClientState(enum.Enum):
    ADVERTISE_KEYS = "advertise keys"
    GRAPH_SEED = "graph seed"
    SHARE_KEYS = "share keys"
    MASKED_INPUT = "masked input"
    CONSISTENCY_CHECK = "consistency check"
    UNMASKING = "unmasking"
    EXCLUSION = "exclusion"  # active: unmasked; only a possible exclusion request may follow
    COMPLETED = "completed"
    ABORTED = "aborted"


_ROUNDS = {
    ClientState.ADVERTISE_KEYS: (AdvertiseKeysRequest, r0_advertise_keys.handle),
    ClientState.GRAPH_SEED: (GraphSeedRequest, graph_seed.handle),
    ClientState.SHARE_KEYS: (ShareKeysRequest, r1_share_keys.handle),
    ClientState.MASKED_INPUT: (MaskedInputRequest, r2_masked_input.handle),
    ClientState.CONSISTENCY_CHECK: (ConsistencyCheckRequest, r3_consistency_check.handle),
    ClientState.UNMASKING: (UnmaskingRequest, r4_unmasking.handle),
    ClientState.EXCLUSION: (ExclusionRequest, exclusion.handle),
}


class SecAggClient:
    """One client of one session. Feed it the server's requests; it returns its replies.

    ``update`` is a 1-D float vector (quantized and masked by the fused native kernel with
    ``rounding_seed``) or a 1-D unsigned vector already quantized to [0, quantization_range).
    It may be None at first and given later with :meth:`set_input`, up to the masked-input
    round: the rounds before it (key agreement, secret sharing) do not need it.
    The active threat model needs ``identity`` (this client's Ed25519 key) and
    ``identity_registry`` (every client id -> registered Ed25519 public key); ``policy`` holds the
    client's own assumption about colluders, against which it checks the server's proposal.
    ``graph_nonce`` fixes this client's graph-seed nonce (reproducible tests only).
    """

    def __init__(self, client_id: int, update: np.ndarray | None, *, rounding_seed: bytes | None = None,
                 identity: IdentityKey | None = None,
                 identity_registry: Mapping[int, bytes] | None = None,
                 noise: NoisePlan | None = None, policy: ClientPolicy | None = None,
                 graph_nonce: bytes | None = None) -> None:
        client_id = check_client_id(client_id)
        if noise is not None and not isinstance(noise, NoisePlan):
            raise ConfigError(f"noise must be a NoisePlan or None, got {type(noise).__name__}")
        if policy is not None and not isinstance(policy, ClientPolicy):
            raise ConfigError(f"policy must be a ClientPolicy or None, got {type(policy).__name__}")
        self.ctx = ClientContext(client_id=client_id,
                                 update=None if update is None else r0_advertise_keys.as_input(update),  # type: ignore[arg-type]
                                 rounding_seed=rounding_seed, identity=identity,
                                 # read-only here: a simulation's n clients share the caller's map
                                 identity_registry=MappingProxyType(identity_registry) if isinstance(
                                     identity_registry, dict) else dict(identity_registry or {}),
                                 noise=noise, policy=policy or ClientPolicy(),
                                 graph_nonce=None if graph_nonce is None else check_seed(graph_nonce, "graph_nonce"))
        self.state = ClientState.ADVERTISE_KEYS
        self.error: SecAggError | None = None

    @property
    def client_id(self) -> int:
        return self.ctx.client_id

    def set_input(self, update: np.ndarray) -> None:
        """Give this client its input, at any point before it sends its masked input."""
        if self.state not in (ClientState.ADVERTISE_KEYS, ClientState.GRAPH_SEED, ClientState.SHARE_KEYS,
                              ClientState.MASKED_INPUT):
            raise ProtocolError(f"client {self.client_id} is past the masked-input round "
                                f"({self.state.value}); its input can no longer change")
        arr = r0_advertise_keys.as_input(update)
        if self.ctx.config is not None:
            r0_advertise_keys.check_input(arr, self.ctx.config)
        self.ctx.update = arr

    def handle(self, data: bytes) -> bytes | None:
        """Process one request; returns the reply bytes (None after an abort message).

        Malformed, replayed or misrouted messages raise (InvalidMessageError / ReplayError) and
        leave the state unchanged. A request that breaks a protocol rule raises its specific
        error and aborts this client for good.
        """
        if self.state is ClientState.ABORTED:
            raise AbortedError(f"client {self.client_id} has aborted: {self.error}")
        message = decode(data)
        session = None if self.ctx.config is None else self.ctx.config.session_id
        if isinstance(message, AbortMessage):  # accepted at any point, even after the last round
            expect(message, AbortMessage, session_id=session, client_id=self.client_id)
            self._abort(AbortedError(f"the server aborted the session: {message.reason}"))
            return None
        if self.state is ClientState.COMPLETED:
            raise ReplayError(f"client {self.client_id} has completed this session")
        expected, handler = _ROUNDS[self.state]
        expect(message, expected, session_id=session, client_id=self.client_id)
        try:
            if self.state is ClientState.MASKED_INPUT and self.ctx.update is None:
                raise ProtocolError(f"client {self.client_id} was given no input before the "
                                    "masked-input round (SecAggClient.set_input)")
            reply: Message = handler(self.ctx, message)
        except SecAggError as exc:
            self._abort(exc)
            raise
        self.state = self._next()
        if self.state is ClientState.COMPLETED:
            self.ctx.forget()
        elif self.state is ClientState.EXCLUSION:
            self.ctx.forget(keep_masking_key=True)  # for a possible exclusion request, then dropped
        return reply.to_bytes()

    def _next(self) -> ClientState:
        if self.state is ClientState.UNMASKING:
            return ClientState.EXCLUSION if self.ctx.cfg.active else ClientState.COMPLETED
        if self.state is ClientState.EXCLUSION:
            return ClientState.COMPLETED
        stages = self.ctx.cfg.stages()
        return ClientState[stages[stages.index(Stage[self.state.name]) + 1].name]

    def _abort(self, error: SecAggError) -> None:
        self.state = ClientState.ABORTED
        self.error = error
        self.ctx.forget()
