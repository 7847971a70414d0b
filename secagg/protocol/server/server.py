"""The server state machine: R0 advertise keys -> [graph seed, active SecAgg+] -> R1 share keys ->
R2 masked input -> [R3 consistency check, active] -> R4 unmasking -> completed (or aborted).

Transport-agnostic: :meth:`SecAggServer.start` returns one request per client; replies go to
:meth:`receive` (each is validated at once: a bad reply raises a specific error and its client is
simply left out); :meth:`advance` closes the stage - when every expected client replied or the
deadline of the injectable ``clock`` passed - and returns the next requests. With fewer than the
threshold at any stage it raises :class:`ThresholdError` naming the stage and the count.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from ...errors import (
    AbortedError,
    DeadlineError,
    ProtocolError,
    ReplayError,
    SecAggError,
    ThresholdError,
    UnknownClientError,
)
from ..config import SessionConfig
from ..messages import (
    AbortMessage,
    AdvertiseKeysReply,
    AdvertiseKeysRequest,
    ConsistencyCheckReply,
    ExclusionReply,
    GraphSeedReply,
    MaskedInputReply,
    Message,
    ShareKeysReply,
    UnmaskingReply,
    decode,
    expect,
)
from ..stage import Stage
from ..transcript import first_session_id, session_id
from . import (
    exclusion,
    graph_seed,
    r0_advertise_keys,
    r1_share_keys,
    r2_masked_input,
    r3_consistency_check,
    r4_unmasking,
)
from .context import ServerContext
from .requests import Requests


class ServerState(enum.Enum):
    NEW = "new"
    COLLECTING = "collecting"
    COMPLETED = "completed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class ServerResult:
    """The unmasked sum mod R of the inputs of ``included`` (the clients whose input counted).

    ``blamed``: clients shown to have broken the protocol, with the reason (a revealed share that
    does not match its dealer's commitment; or dealt shares that do not rebuild what the dealer
    committed to); ``excluded``: those of them taken out of the sum (their input sent but not
    counted); ``refused``: holder -> the dealers whose shares it refused (they did not decrypt or
    match the dealer's commitments).
    """

    quantized_sum: np.ndarray
    included: frozenset[int]
    blamed: Mapping[int, str] = field(default_factory=dict)
    refused: Mapping[int, frozenset[int]] = field(default_factory=dict)
    excluded: frozenset[int] = frozenset()


_ROUNDS: dict[Stage, tuple[type[Message], ModuleType]] = {
    Stage.ADVERTISE_KEYS: (AdvertiseKeysReply, r0_advertise_keys),
    Stage.GRAPH_SEED: (GraphSeedReply, graph_seed),
    Stage.SHARE_KEYS: (ShareKeysReply, r1_share_keys),
    Stage.MASKED_INPUT: (MaskedInputReply, r2_masked_input),
    Stage.CONSISTENCY_CHECK: (ConsistencyCheckReply, r3_consistency_check),
    Stage.UNMASKING: (UnmaskingReply, r4_unmasking),
    Stage.EXCLUSION: (ExclusionReply, exclusion),
}


class SecAggServer:
    """The server of one session.

    ``identity_registry`` maps client id -> registered Ed25519 public key (active model).
    ``stage_timeout`` seconds per stage on ``clock`` (default ``time.monotonic``); None waits
    for every reply.
    """

    def __init__(self, config: SessionConfig, *, identity_registry: Mapping[int, bytes] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 stage_timeout: float | None = None) -> None:
        registry = dict(identity_registry or {})
        if config.active:
            missing = set(config.client_ids) - set(registry)
            if missing:
                raise UnknownClientError(f"active model: clients {sorted(missing)[:5]} have no "
                                         "registered identity key")
        if stage_timeout is not None and not (stage_timeout > 0):
            raise ProtocolError("stage_timeout must be > 0 seconds or None")
        self.config = config
        digest = config.digest()
        self.ctx = ServerContext(config=config, identity_registry=registry, config_digest=digest,
                                 first_id=first_session_id(config.session_id, digest),
                                 graph=None if config.clients_draw_graph_seed else config.graph(),
                                 sid=b"" if config.active else session_id(config.session_id, digest))
        self.clock = clock
        self.stage_timeout = stage_timeout
        self.state = ServerState.NEW
        self.stage = Stage.ADVERTISE_KEYS
        self.deadline = math.inf
        self.expected: frozenset[int] = frozenset()
        self.replied: set[int] = set()
        self.rejected: dict[int, SecAggError] = {}
        self.result: ServerResult | None = None

    # --- driving the session ------------------------------------------------------------------
    def start(self) -> Mapping[int, bytes]:
        """Round-0 requests (the session config) for every client, each encoded when read
        (:class:`~.requests.Requests`)."""
        if self.state is not ServerState.NEW:
            raise ProtocolError("the session has already started")
        cfg = self.config
        wire = cfg.to_wire()
        return self._open(Stage.ADVERTISE_KEYS, Requests(cfg.client_ids, lambda cid: AdvertiseKeysRequest(
            session_id=cfg.session_id, client_id=cid, config=wire)))

    def receive(self, client_id: int, data: bytes) -> None:
        """Validate and record one reply of the current stage; raises (and ignores it) if bad."""
        if self.state is not ServerState.COLLECTING:
            raise AbortedError("the session is over") if self.state is ServerState.ABORTED \
                else ReplayError("the session is not collecting replies")
        if client_id not in self.expected:
            raise UnknownClientError(f"client {client_id} is not expected at stage {self.stage.name}")
        if self.clock() > self.deadline:
            raise DeadlineError(f"reply of client {client_id} arrived after the "
                                f"{self.stage.name} deadline")
        if client_id in self.replied:
            raise ReplayError(f"client {client_id} already replied at stage {self.stage.name}")
        if client_id in self.rejected:
            raise ReplayError(f"client {client_id}'s reply at stage {self.stage.name} was rejected")
        expected_cls, module = _ROUNDS[self.stage]
        try:
            message = expect(decode(data), expected_cls, session_id=self.config.session_id,
                             client_id=client_id)
            module.accept(self.ctx, client_id, message)
        except ReplayError:
            raise  # a stale message: the client may still send the right one
        except SecAggError as exc:
            self.rejected[client_id] = exc
            raise
        self.replied.add(client_id)

    def ready(self) -> bool:
        """True when every expected client replied (or was rejected) or the deadline passed."""
        return self.replied | set(self.rejected) >= self.expected or self.clock() > self.deadline

    def advance(self) -> Mapping[int, bytes]:
        """Close the current stage; returns the next requests, each encoded when read ({} once
        completed)."""
        if self.state is not ServerState.COLLECTING:
            raise ProtocolError(f"cannot advance a session that is {self.state.value}")
        count, t = len(self.replied), self.config.threshold
        if count < t and self.stage is not Stage.EXCLUSION:  # there only the liars' neighbours answer
            self._aborted()
            raise ThresholdError(f"only {count} clients replied at stage {self.stage.name}; the "
                                 f"threshold is {t}", stage=self.stage.name, survivors=count,
                                 threshold=t)
        module = _ROUNDS[self.stage][1]
        if self.stage in (Stage.UNMASKING, Stage.EXCLUSION):
            try:
                if self.stage is Stage.UNMASKING:
                    r4_unmasking.rebuild(self.ctx)
                    if self.ctx.liars:  # someone dealt shares it cannot stand by: exclude it first
                        return self._open(Stage.EXCLUSION, r4_unmasking.requests(self.ctx))
                else:
                    exclusion.check_complete(self.ctx)
                total = r4_unmasking.finish(self.ctx)
            except SecAggError:
                self._aborted()
                raise
            excluded = {c: "dealt shares that do not rebuild what it committed to (proven by its signature)"
                        for c in self.ctx.liars}
            self.result = ServerResult(total, self.ctx.u3 - set(self.ctx.liars),
                                       blamed={**self.ctx.blamed, **excluded}, refused=dict(self.ctx.refused),
                                       excluded=frozenset(self.ctx.liars))
            self.ctx.spool.close()
            self.state = ServerState.COMPLETED
            self.expected = frozenset()
            return {}
        try:
            messages = module.requests(self.ctx)
        except SecAggError:
            self._aborted()
            raise
        stages = self.config.stages()
        return self._open(stages[stages.index(self.stage) + 1], messages)

    def abort(self, reason: str) -> dict[int, bytes]:
        """Give up; returns an abort message for every client that replied in the current stage."""
        self._aborted()
        return {cid: AbortMessage(session_id=self.config.session_id, client_id=cid,
                                  reason=reason[:200]).to_bytes() for cid in sorted(self.replied)}

    def _aborted(self) -> None:
        self.state = ServerState.ABORTED
        self.ctx.spool.close()

    def _open(self, stage: Stage, messages: Mapping[int, Message] | Requests) -> Requests:
        self.stage = stage
        self.state = ServerState.COLLECTING
        requests = messages if isinstance(messages, Requests) else Requests.of(messages)
        self.expected = frozenset(requests)
        self.replied = set()
        self.rejected = {}
        self.deadline = math.inf if self.stage_timeout is None else self.clock() + self.stage_timeout
        return requests
