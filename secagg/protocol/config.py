"""The parameters of one session, chosen by the server and sent to every client in round 0."""

from __future__ import annotations

import bisect
import collections
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.masking import check_variance
from ..core.prg import check_modulus, check_seed
from ..errors import ConfigError, InvalidMessageError, ModulusError
from .graphs import GRAPH_COMPLETE, GRAPH_HARARY, Graph, build_graph
from .messages import MAX_CLIENTS, MAX_VECTOR_LENGTH, PROTOCOL_VERSION, SESSION_ID_BYTES
from .params import THREAT_MODELS
from .stage import Stage
from .transcript import config_digest

INPUT_FLOAT = "float"
INPUT_QUANTIZED = "quantized"


MAX_NOISY_QUANTIZATION = 2**52  # quantized inputs pass through the kernel exactly in float64


@dataclass(frozen=True)
class NoisePlan:
    """One client's secret integer noise: Skellam(``variance``) from PRG(``seed``) per element.

    Not part of :class:`SessionConfig` (never sent): the client's masked-input round adds the
    noise inside the fused native kernel, in the same pass as the masks, with the integers of
    ``secagg.dp.sample_skellam(seed, vector_length, variance)``.
    """

    variance: float
    seed: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "variance", check_variance(self.variance, "noise variance"))
        object.__setattr__(self, "seed", check_seed(self.seed, "noise seed"))


def check_power_of_two_modulus(modulus_range: object) -> int:
    """A session's modulus: a power of two in [2, 2**64] (masked vectors travel bit-packed)."""
    r = check_modulus(modulus_range)
    if r & (r - 1):
        raise ModulusError(f"modulus_range must be a power of two for a protocol session (masked "
                           f"vectors are bit-packed), got {r}")
    return r


def default_modulus(num_clients: int, quantization_range: int) -> int:
    """The smallest power of two R with R > num_clients * (quantization_range - 1)."""
    top = num_clients * (quantization_range - 1)
    return 1 << max(1, top.bit_length())


@dataclass(frozen=True)
class SessionConfig:
    """Everything both sides must agree on. ``modulus_range`` is a power of two.

    ``max_dropouts`` is the dropout budget D the parameters were chosen for; clients of an active
    SecAgg+ session refuse a survivor set smaller than n - D. ``graph_seed`` (None: fresh random)
    is the server's for honest-but-curious SecAgg+; an active SecAgg+ session's is drawn by its
    clients (:mod:`secagg.protocol.graphseed`), so it must be left unset. ``session_id`` is the
    server's label of the session (its nonce): the id every signature covers is computed from it by
    each party (:mod:`secagg.protocol.transcript`).
    """

    client_ids: tuple[int, ...]
    graph_kind: str
    degree: int
    threshold: int
    modulus_range: int
    vector_length: int
    clipping_range: float
    quantization_range: int
    threat_model: str = "honest-but-curious"
    input_kind: str = INPUT_FLOAT
    max_dropouts: int = 0
    graph_seed: bytes | None = None
    session_id: bytes = field(default_factory=lambda: os.urandom(SESSION_ID_BYTES))

    def __post_init__(self) -> None:
        ids = self.client_ids
        # C-level passes (set of types, min, max): every client validates the full id list
        if not isinstance(ids, tuple) or not 2 <= len(ids) <= MAX_CLIENTS or \
                set(map(type, ids)) != {int} or min(ids) < 0 or max(ids) >= 2**63:
            raise ConfigError(f"client_ids must be a tuple of 2..{MAX_CLIENTS} ints in [0, 2**63)")
        if list(ids) != sorted(set(ids)):
            raise ConfigError("client_ids must be sorted and distinct")
        if self.graph_kind not in (GRAPH_COMPLETE, GRAPH_HARARY):
            raise ConfigError(f"unknown graph kind {self.graph_kind!r}")
        n = len(ids)
        if type(self.degree) is not int:
            raise ConfigError(f"degree must be an int, got {self.degree!r:.40}")
        if self.graph_kind == GRAPH_COMPLETE and self.degree != n - 1:
            raise ConfigError(f"the complete graph on {n} clients has degree {n - 1}")
        if type(self.threshold) is not int or not 1 <= self.threshold <= self.degree + 1:
            raise ConfigError(f"threshold must be an int in [1, degree + 1 = {self.degree + 1}], "
                              f"got {self.threshold!r}")
        r = check_power_of_two_modulus(self.modulus_range)
        if type(self.vector_length) is not int or not 1 <= self.vector_length <= MAX_VECTOR_LENGTH:
            raise ConfigError(f"vector_length must be an int in [1, {MAX_VECTOR_LENGTH}]")
        c = self.clipping_range
        if type(c) is not float or not (math.isfinite(c) and c > 0):
            raise ConfigError(f"clipping_range must be a finite float > 0, got {c!r}")
        q = self.quantization_range
        if type(q) is not int or not 2 <= q <= r:
            raise ConfigError(f"quantization_range must be an int in [2, modulus_range], got {q!r}")
        if self.threat_model not in THREAT_MODELS:
            raise ConfigError(f"threat_model must be one of {THREAT_MODELS}")
        if self.input_kind not in (INPUT_FLOAT, INPUT_QUANTIZED):
            raise ConfigError(f"input_kind must be {INPUT_FLOAT!r} or {INPUT_QUANTIZED!r}")
        if type(self.max_dropouts) is not int or not 0 <= self.max_dropouts < n:
            raise ConfigError(f"max_dropouts must be an int in [0, {n - 1}], got {self.max_dropouts!r}")
        if self.clients_draw_graph_seed:
            if self.graph_seed is not None:
                raise ConfigError("the graph seed of an active SecAgg+ session is drawn by its clients "
                                  "(commit-reveal); the server must leave it unset")
        elif self.graph_seed is None:
            object.__setattr__(self, "graph_seed", os.urandom(32))
        elif not isinstance(self.graph_seed, bytes) or len(self.graph_seed) != 32:
            raise ConfigError("graph_seed must be 32 bytes")
        if not isinstance(self.session_id, bytes) or len(self.session_id) != SESSION_ID_BYTES:
            raise ConfigError(f"session_id must be {SESSION_ID_BYTES} bytes")

    @property
    def bits(self) -> int:
        return self.modulus_range.bit_length() - 1

    @property
    def active(self) -> bool:
        return self.threat_model == "active"

    @property
    def clients_draw_graph_seed(self) -> bool:
        """Active SecAgg+: the graph seed comes from the clients (the GRAPH_SEED stage runs)."""
        return self.active and self.graph_kind == GRAPH_HARARY

    def graph(self, seed: bytes | None = None) -> Graph:
        """The session's graph (``seed``: the clients' seed, for an active SecAgg+ session)."""
        seed = self.graph_seed if seed is None else seed
        if seed is None:
            raise ConfigError("an active SecAgg+ session's graph exists once its clients revealed the seed")
        # kept on the (immutable) config: the clients sharing it skip even the graph cache's
        # lookup, which hashes all n ids (2 ms a client at n = 10^5)
        graphs = self.__dict__.setdefault("_graphs", {})
        graph = graphs.get(seed)
        if graph is None:
            graph = build_graph(self.graph_kind, self.client_ids, self.degree, seed)
            if len(graphs) >= 4:
                graphs.clear()
            graphs[seed] = graph
        return graph

    def digest(self) -> bytes:
        """SHA-256 of the configuration as it travels (see :func:`~.transcript.config_digest`);
        computed once (the config is immutable)."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            cached = config_digest(self.to_wire())
            object.__setattr__(self, "_digest", cached)
        return cached

    def stages(self) -> tuple[Stage, ...]:
        """The stages this session runs, in order."""
        return tuple(s for s in Stage if (s is not Stage.GRAPH_SEED or self.clients_draw_graph_seed)
                     and (s is not Stage.CONSISTENCY_CHECK or self.active))

    def includes(self, client_id: int) -> bool:
        """Whether ``client_id`` is in the cohort (a binary search: O(log n))."""
        ids = self.client_ids
        pos = bisect.bisect_left(ids, client_id)
        return pos < len(ids) and ids[pos] == client_id

    def to_wire(self) -> dict[str, Any]:
        """The config as it travels; the ids as one packed little-endian uint64 string (8 bytes an id:
        at n = 10^5 every client decodes and compares 800 kB with memcpy-speed operations, where a
        list of ints costs a Python object per id per client, O(n^2) in all)."""
        return {"client_ids": _packed_ids(self), "graph_kind": self.graph_kind,
                "degree": self.degree, "threshold": self.threshold,
                "modulus_bits": self.bits, "vector_length": self.vector_length,
                "clipping_range": self.clipping_range, "quantization_range": self.quantization_range,
                "threat_model": self.threat_model, "input_kind": self.input_kind,
                "max_dropouts": self.max_dropouts, "graph_seed": self.graph_seed,
                "protocol_version": PROTOCOL_VERSION}

    @classmethod
    def from_wire(cls, body: dict[str, Any], session_id: bytes) -> SessionConfig:
        """Strictly rebuild a config received in round 0 (:class:`InvalidMessageError` if bad)."""
        if set(body) != _WIRE_FIELDS:
            raise InvalidMessageError(f"config must have exactly the fields {sorted(_WIRE_FIELDS)}")
        ids, bits = body["client_ids"], body["modulus_bits"]
        if type(ids) is not bytes or len(ids) % 8:
            raise InvalidMessageError("config client_ids must be packed 8-byte little-endian ids")
        if type(bits) is not int or not 1 <= bits <= 64:
            raise InvalidMessageError(f"config modulus_bits must be an int in [1, 64], got {bits!r:.40}")
        if body["protocol_version"] != PROTOCOL_VERSION:
            raise InvalidMessageError(f"config is for protocol version {body['protocol_version']!r:.20}; "
                                      f"this client speaks {PROTOCOL_VERSION}")
        seeded_by_clients = body["threat_model"] == "active" and body["graph_kind"] == GRAPH_HARARY
        if body["graph_seed"] is None and not seeded_by_clients:
            raise InvalidMessageError("config graph_seed is missing")
        # each value keyed with its exact type, so that a cached config never stands in for a
        # wire form that differs only in type (1 == 1.0 == True)
        key = (ids, session_id, bits, tuple((k, type(body[k]), body[k]) for k in sorted(body)
                                            if k not in ("client_ids", "modulus_bits", "protocol_version")))
        for seen, config in list(_RECENT):  # a copy: another thread may add to it
            if seen == key:  # compared, not hashed: memcmp of the packed ids
                return config
        try:
            config = cls(client_ids=tuple(np.frombuffer(ids, dtype="<u8").tolist()), session_id=session_id,
                         modulus_range=1 << bits, **{k: v for k, _, v in key[3]})
        except (ConfigError, TypeError) as exc:
            raise InvalidMessageError(f"invalid session config: {exc}") from None
        _RECENT.appendleft((key, config))
        return config


_RECENT: collections.deque[tuple[tuple[Any, ...], SessionConfig]] = collections.deque(maxlen=4)
"""The last configs rebuilt from the wire: the clients of an in-process simulation share one
(validated, immutable) config instead of each holding and checking its own n-id tuple (n^2)."""


def _packed_ids(config: SessionConfig) -> bytes:
    cached = config.__dict__.get("_packed_ids")
    if cached is None:
        cached = np.asarray(config.client_ids, dtype="<u8").tobytes()
        object.__setattr__(config, "_packed_ids", cached)
    return cached


_WIRE_FIELDS = frozenset(("client_ids", "graph_kind", "degree", "threshold", "modulus_bits", "vector_length",
                          "clipping_range", "quantization_range", "threat_model", "input_kind", "max_dropouts",
                          "graph_seed", "protocol_version"))
