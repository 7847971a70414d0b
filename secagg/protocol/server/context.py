"""What the server accumulates during one session (shared by the round modules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..config import SessionConfig
from ..graphs import Graph
from .envelopes import EnvelopeStore
from .spool import MaskedInputSpool


@dataclass
class ServerContext:
    config: SessionConfig
    graph: Graph | None  # None until an active SecAgg+ session's clients revealed the seed
    identity_registry: Mapping[int, bytes] = field(default_factory=dict)
    config_digest: bytes = b""
    first_id: bytes = b""  # what round-0 signatures cover
    sid: bytes = b""  # the session id everything later is bound to (set when the cohort is fixed)
    # U1: id -> (c_public, s_public, signature); in active SecAgg+ the revealers once the seed is drawn
    keys: dict[int, tuple[bytes, bytes, bytes]] = field(default_factory=dict)
    # active SecAgg+: id -> graph-seed commitment (all advertisers), the cohort digest, the nonces
    commitments: dict[int, bytes] = field(default_factory=dict)
    cohort_digest: bytes = b""
    nonces: dict[int, bytes] = field(default_factory=dict)
    # U2: the clients whose encrypted shares were accepted; their envelopes (sender -> holder ->
    # envelope, compact) until routed in round 2's requests, then (active) only the 64-byte
    # commitment heads that r1_share_keys.share_hashes reads
    sharers: set[int] = field(default_factory=set)
    envelopes: EnvelopeStore = field(default_factory=EnvelopeStore)
    # active: owner -> (self-mask seed commitment, hashes of its own kept shares, signature); the
    # hashes of the shares it dealt head its envelopes (see r1_share_keys.share_hashes)
    share_commitments: dict[int, tuple[bytes, bytes, bytes]] = field(default_factory=dict)
    # holder -> the senders whose shares it refused (it holds and reveals none of theirs)
    refused: dict[int, frozenset[int]] = field(default_factory=dict)
    # client -> why it was blamed (it revealed a share that does not match its owner's commitment)
    blamed: dict[int, str] = field(default_factory=dict)
    # active: every accepted masked vector (packed), spooled to disk until the round ends in case
    # its sender must be taken out of the sum (see r4_unmasking / exclusion)
    spool: MaskedInputSpool = field(default_factory=MaskedInputSpool)
    # round 4 results: rebuilt self-mask seeds of contributors, masking keys of dropped clients
    self_seeds: dict[int, bytes] = field(default_factory=dict)
    dropped_keys: dict[int, bytes] = field(default_factory=dict)
    # clients proven (by their own signed commitments) to have dealt bad shares -> the proof, and
    # the surviving neighbours' pairwise seeds with them (liar -> neighbour -> seed)
    liars: dict[int, tuple[int, bytes, dict[int, tuple[bytes, bytes]], bytes, dict[int, bytes]]] = field(
        default_factory=dict)
    exclusion_seeds: dict[int, dict[int, bytes]] = field(default_factory=dict)
    keys_in_use: set[bytes] = field(default_factory=set)
    # U3: running sum of masked vectors (flat uint64, see packing.unpack_into); uint64 wraps
    # mod 2**64, a multiple of R
    masked_sum: np.ndarray | None = None
    contributors: set[int] = field(default_factory=set)
    # U4 (active): id -> consistency signature
    signatures: dict[int, bytes] = field(default_factory=dict)
    # U5: shares received (raw bytes, parsed when needed), owner -> [(holder, share)]
    self_mask_shares: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    key_shares: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
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
        return self._set("u2", self.sharers)

    @property
    def u3(self) -> frozenset[int]:
        return self._set("u3", self.contributors)

    @property
    def g(self) -> Graph:
        assert self.graph is not None, "the graph is fixed before any share is routed"
        return self.graph

    def survivors_for(self, cid: int) -> tuple[int, ...]:
        """Contributors in ``cid``'s sharing group whose shares it holds (it reveals their
        self-mask shares)."""
        return tuple(sorted((self.g.group(cid) & self.u3) - self.refused.get(cid, frozenset())))

    def dropped_for(self, cid: int) -> tuple[int, ...]:
        """Neighbours that shared keys with ``cid`` but whose input never arrived (it reveals their
        key shares, if it holds them)."""
        return tuple(sorted((self.g.neighbors(cid) & self.u2) - self.u3 - self.refused.get(cid, frozenset())))
