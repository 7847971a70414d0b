"""What a client accumulates during one session (shared by the round modules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ...core.crypto import IdentityKey, KeyPair
from ..config import NoisePlan, SessionConfig
from ..graphs import Graph
from ..policy import ClientPolicy


@dataclass
class ClientContext:
    client_id: int
    update: np.ndarray
    rounding_seed: bytes | None = None
    identity: IdentityKey | None = None
    identity_registry: Mapping[int, bytes] = field(default_factory=dict)
    noise: NoisePlan | None = None  # secret integer noise added in round 2's fused kernel
    policy: ClientPolicy = field(default_factory=ClientPolicy)
    graph_nonce: bytes | None = None  # tests only: a fixed graph-seed nonce (else fresh random)
    # round 0
    config: SessionConfig | None = None
    config_digest: bytes = b""
    first_id: bytes = b""  # the session id round-0 signatures cover
    sid: bytes = b""  # the session id everything later is bound to (once the cohort is known)
    graph: Graph | None = None
    c_keys: KeyPair | None = None
    s_keys: KeyPair | None = None
    # graph seed (active SecAgg+): my nonce, and the cohort once fixed: id -> (c, s, commitment)
    commitment: bytes = b""
    cohort: dict[int, tuple[bytes, bytes, bytes]] = field(default_factory=dict)
    cohort_digest: bytes = b""
    # round 1: neighbours that advertised keys, id -> (c_public, s_public)
    peer_keys: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    share_keys: dict[int, bytes] = field(default_factory=dict)
    self_seed: bytes | None = None
    # shares travel and are kept encoded (Share.to_bytes); ones received were validated in round 2
    own_shares: tuple[bytes, bytes] | None = None  # my shares of my own (b, s_sk)
    # round 2: shares I hold, owner id -> (b share, s_sk share); owners = senders + me, less the
    # senders whose shares I refused (they did not decrypt, parse or match their commitments)
    held: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    masked_with: frozenset[int] = frozenset()
    refused: frozenset[int] = frozenset()
    # round 3 (active): the survivor set I signed
    signed_survivors: frozenset[int] | None = None
    # round 4: what I revealed per owner ("self-mask" or "key"); never both for one owner
    revealed: dict[int, str] = field(default_factory=dict)

    @property
    def cfg(self) -> SessionConfig:
        assert self.config is not None
        return self.config

    def forget(self, *, keep_masking_key: bool = False) -> None:
        """Drop every secret of the session (its end, or an abort): key pairs, the self-mask
        seed, shares dealt and held, pairwise keys, the noise plan and the raw input
        (``keep_masking_key``: all but the ``s`` key pair, which an exclusion request may still
        need). Python cannot overwrite immutable bytes; the references go, and ``cryptography``
        frees (and clears) the private keys it holds."""
        self.c_keys = None
        if not keep_masking_key:
            self.s_keys = None
        self.self_seed = None
        self.own_shares = None
        self.held = {}
        self.share_keys = {}
        self.noise = None
        self.update = None  # type: ignore[assignment]
        self.rounding_seed = None
        self.graph_nonce = None
