"""What a client accumulates during one session (shared by the round modules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ...core.crypto import IdentityKey, KeyPair
from ..config import NoisePlan, SessionConfig
from ..graphs import Graph


@dataclass
class ClientContext:
    client_id: int
    update: np.ndarray
    rounding_seed: bytes | None = None
    identity: IdentityKey | None = None
    identity_registry: Mapping[int, bytes] = field(default_factory=dict)
    noise: NoisePlan | None = None  # secret integer noise added in round 2's fused kernel
    # round 0
    config: SessionConfig | None = None
    graph: Graph | None = None
    c_keys: KeyPair | None = None
    s_keys: KeyPair | None = None
    # round 1: neighbours that advertised keys, id -> (c_public, s_public)
    peer_keys: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    share_keys: dict[int, bytes] = field(default_factory=dict)
    self_seed: bytes | None = None
    # shares travel and are kept encoded (Share.to_bytes); ones received were validated in round 2
    own_shares: tuple[bytes, bytes] | None = None  # my shares of my own (b, s_sk)
    # round 2: shares I hold, owner id -> (b share, s_sk share); owners = senders + me
    held: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    masked_with: frozenset[int] = frozenset()
    # round 3 (active): the survivor set I signed
    signed_survivors: frozenset[int] | None = None
    # round 4: what I revealed per owner ("self-mask" or "key"); never both for one owner
    revealed: dict[int, str] = field(default_factory=dict)

    @property
    def cfg(self) -> SessionConfig:
        assert self.config is not None
        return self.config
