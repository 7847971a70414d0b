"""Who shares secrets and masks with whom: the complete graph (SecAgg) and Harary graphs (SecAgg+).

Each client masks pairwise only with its neighbours and Shamir-shares its secrets with its
*closed* neighbourhood (its neighbours and itself), so a secret of client ``u`` is rebuilt from the
shares held by the members of ``group(u)``.

The Harary graph H(n, k) (k even) puts the n clients on a ring and joins each to the k/2 nearest
clients on either side; it is k-regular and k-connected. The ring order is a uniformly random
permutation derived from a 32-byte seed the server draws from the OS CSPRNG and sends to every
client: position order = clients sorted by SHA-256(seed || id). Every client recomputes the graph
itself, so the server cannot hand out inconsistent neighbourhoods without being noticed.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Sequence

from ..errors import ConfigError

GRAPH_COMPLETE = "complete"
GRAPH_HARARY = "harary"


class Graph:
    """Neighbourhoods over a fixed, sorted tuple of client ids."""

    kind: str

    def __init__(self, client_ids: Sequence[int]) -> None:
        ids = tuple(sorted(int(c) for c in client_ids))
        if len(ids) < 2:
            raise ConfigError(f"a session needs at least 2 clients, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise ConfigError("client ids must be distinct")
        self.client_ids = ids
        self._members = frozenset(ids)

    def __contains__(self, cid: object) -> bool:
        return cid in self._members

    @property
    def n(self) -> int:
        return len(self.client_ids)

    @property
    def degree(self) -> int:
        raise NotImplementedError

    def neighbors(self, cid: int) -> frozenset[int]:
        """The clients ``cid`` masks with (never itself)."""
        raise NotImplementedError

    def group(self, cid: int) -> frozenset[int]:
        """The closed neighbourhood of ``cid``: who holds shares of its secrets."""
        return self.neighbors(cid) | {cid}


class CompleteGraph(Graph):
    """Every client is every other client's neighbour (SecAgg, Bonawitz et al. 2017)."""

    kind = GRAPH_COMPLETE

    @property
    def degree(self) -> int:
        return self.n - 1

    def neighbors(self, cid: int) -> frozenset[int]:
        return self._members - {cid}

    def group(self, cid: int) -> frozenset[int]:
        return self._members


def ring_order(client_ids: Sequence[int], seed: bytes) -> list[int]:
    """The client ids in the uniformly random ring order determined by ``seed``."""
    return sorted(client_ids, key=lambda c: hashlib.sha256(seed + struct.pack("<Q", c)).digest())


class HararyGraph(Graph):
    """H(n, k) over the clients in the ring order given by ``seed`` (SecAgg+, Bell et al. 2020)."""

    kind = GRAPH_HARARY

    def __init__(self, client_ids: Sequence[int], degree: int, seed: bytes) -> None:
        super().__init__(client_ids)
        if not isinstance(degree, int) or degree < 2 or degree % 2 or degree >= self.n - 1:
            raise ConfigError(f"Harary degree must be an even int in [2, n-2] = [2, {self.n - 2}], "
                              f"got {degree!r}; use the complete graph for larger degrees")
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ConfigError("the graph seed must be 32 bytes")
        self._degree = degree
        self.seed = seed
        self.order = ring_order(self.client_ids, seed)
        self._position = {c: p for p, c in enumerate(self.order)}
        self._cache: dict[int, frozenset[int]] = {}

    @property
    def degree(self) -> int:
        return self._degree

    def neighbors(self, cid: int) -> frozenset[int]:
        found = self._cache.get(cid)
        if found is None:
            p, n, half = self._position[cid], self.n, self._degree // 2
            found = frozenset(self.order[(p + o) % n] for o in range(-half, half + 1) if o)
            self._cache[cid] = found
        return found


def build_graph(kind: str, client_ids: Sequence[int], degree: int, seed: bytes) -> Graph:
    """The graph a session config describes.

    Graphs are immutable functions of public session parameters, so the last few are cached:
    every client of an in-process simulation (and the server) shares one instead of each
    re-sorting all n ids by SHA-256.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or not isinstance(seed, bytes):
        return _build_graph(kind, client_ids, degree, seed)  # unhashable / invalid: no cache
    return _cached_graph(kind, tuple(client_ids), degree, seed)


@functools.lru_cache(maxsize=8)
def _cached_graph(kind: str, client_ids: tuple[int, ...], degree: int, seed: bytes) -> Graph:
    return _build_graph(kind, client_ids, degree, seed)


def _build_graph(kind: str, client_ids: Sequence[int], degree: int, seed: bytes) -> Graph:
    if kind == GRAPH_COMPLETE:
        return CompleteGraph(client_ids)
    if kind == GRAPH_HARARY:
        return HararyGraph(client_ids, degree, seed)
    raise ConfigError(f"unknown graph kind {kind!r}; use {GRAPH_COMPLETE!r} or {GRAPH_HARARY!r}")
