"""What the server accumulates during one session (shared by the round modules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..config import SessionConfig
from ..graphs import Graph


@dataclass
class ServerContext:
    config: SessionConfig
    graph: Graph
    identity_registry: Mapping[int, bytes] = field(default_factory=dict)
    # U1: id -> (c_public, s_public, signature)
    keys: dict[int, tuple[bytes, bytes, bytes]] = field(default_factory=dict)
    # U2: sender -> receiver -> ciphertext
    ciphertexts: dict[int, dict[int, bytes]] = field(default_factory=dict)
    keys_in_use: set[bytes] = field(default_factory=set)
    # U3: running sum of masked vectors (flat uint64, see packing.unpack_into); uint64 wraps
    # mod 2**64, a multiple of R
    masked_sum: np.ndarray | None = None
    contributors: set[int] = field(default_factory=set)
    # U4 (active): id -> consistency signature
    signatures: dict[int, bytes] = field(default_factory=dict)
    # U5: shares received (raw bytes, parsed when needed), owner -> list of shares
    self_mask_shares: dict[int, list[bytes]] = field(default_factory=dict)
    key_shares: dict[int, list[bytes]] = field(default_factory=dict)
    unmasked_by: set[int] = field(default_factory=set)

    _frozen: dict[str, frozenset[int]] = field(default_factory=dict)

    def _set(self, name: str, members: object) -> frozenset[int]:
        """A frozen copy of a growing collection, rebuilt only when it grew (O(1) per lookup)."""
        cached = self._frozen.get(name)
        if cached is None or len(cached) != len(members):  # type: ignore[arg-type]
            cached = self._frozen[name] = frozenset(members)  # type: ignore[arg-type]
        return cached

    @property
    def u1(self) -> frozenset[int]:
        return self._set("u1", self.keys)

    @property
    def u2(self) -> frozenset[int]:
        return self._set("u2", self.ciphertexts)

    @property
    def u3(self) -> frozenset[int]:
        return self._set("u3", self.contributors)

    def survivors_for(self, cid: int) -> tuple[int, ...]:
        """Contributors in ``cid``'s sharing group (whose self-mask shares it reveals)."""
        return tuple(sorted(self.graph.group(cid) & self.u3))

    def dropped_for(self, cid: int) -> tuple[int, ...]:
        """Neighbours that shared keys with ``cid`` but whose input never arrived."""
        return tuple(sorted((self.graph.neighbors(cid) & self.u2) - self.u3))
