"""One simulated SecAgg / SecAgg+ session: a real server and real clients exchanging real messages.

:func:`simulate` runs a whole session on known inputs. :func:`make_session` builds one before the
inputs exist, in two parts, so the first can overlap local training: the rounds before the masked
input (ADVERTISE_KEYS, SHARE_KEYS: key pairs, key agreement, Shamir shares, encrypted share
exchange) do not depend on the clients' inputs. :meth:`SimulatedSession.setup` runs them;
:meth:`SimulatedSession.finish` then hands each client its input and runs the rest (MASKED_INPUT,
CONSISTENCY_CHECK, UNMASKING). Real deployments do the same: devices can agree on keys while they
train. Dropouts follow a :data:`~secagg.protocol.stage.DropoutSchedule` (client id -> the stage
*before which* it vanishes).

Every byte that would cross the network is counted per client and per stage, and the time spent
in client and server code is measured separately.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import check_choice, check_client_id, check_client_ids, check_int
from ..core.prg import MAX_VECTOR_ELEMENTS, check_seed
from ..core.quantize import check_clipping, check_quantization, dequantize
from ..errors import ConfigError, DTypeError, InputError, ModulusError, NonFiniteError, SecAggError, ShapeError
from ..protocol.config import (
    INPUT_FLOAT,
    INPUT_QUANTIZED,
    MAX_NOISY_QUANTIZATION,
    NoisePlan,
    SessionConfig,
    check_power_of_two_modulus,
    default_modulus,
)
from ..protocol.graphs import GRAPH_HARARY, Graph
from ..protocol.params import GraphParameters, find_parameters
from ..protocol.policy import ClientPolicy
from ..protocol.server import SecAggServer
from ..protocol.stage import DropoutSchedule, Stage, check_dropouts
from .backends.base import ClientBackend, ClientSpec
from .backends.registry import check_backend, make_backend

Tamper = Callable[[Stage, str, int, bytes], "bytes | None"]
"""Test hook: (stage, "request" | "reply", client id, bytes) -> bytes to deliver (None drops it)."""


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of one simulated session.

    ``quantized_sum`` is the sum mod R of the included clients' quantized inputs; ``total`` its
    de-quantized float64 value (None for quantized inputs). ``graph`` is the session's graph (in
    active SecAgg+ drawn by the clients); ``blamed``, ``excluded`` and ``refused`` are the server's (see
    :class:`~secagg.protocol.server.ServerResult`). ``seconds``: wall-clock ``client``
    (all clients, summed), ``client_max`` (slowest client), ``server``; and process CPU time
    ``client_cpu`` / ``server_cpu`` (all threads; less sensitive to a busy machine).
    """

    quantized_sum: np.ndarray
    total: np.ndarray | None
    included: frozenset[int]
    params: GraphParameters
    config: SessionConfig
    bytes_sent: dict[int, dict[str, int]] = field(default_factory=dict)
    bytes_received: dict[int, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    client_seconds: dict[int, float] = field(default_factory=dict)
    client_errors: dict[int, SecAggError] = field(default_factory=dict)
    rejected: dict[int, SecAggError] = field(default_factory=dict)
    blamed: Mapping[int, str] = field(default_factory=dict)
    refused: Mapping[int, frozenset[int]] = field(default_factory=dict)
    excluded: frozenset[int] = frozenset()
    graph: Graph | None = None


FEED_BATCH = 256
"""Clients handed their inputs at once by :meth:`SimulatedSession.finish`."""
DELIVER_BATCH = 1024
DELIVER_BYTES = 64 << 20
"""Requests handed to the clients at once: at most this many, of at most this many bytes (plus one)."""


class SimulatedSession:
    """A real :class:`SecAggServer` and simulated clients hosted by a client ``backend``.

    ``config`` and ``params`` come from :func:`secagg.sim.make_session`, which validates
    them. Call :meth:`setup` (optional, e.g. from a background thread) and then :meth:`finish`.
    ``owns_backend``: the session closes the backend when it ends (one built from a name).
    """

    def __init__(self, config: SessionConfig, params: GraphParameters, *,
                 dropouts: DropoutSchedule | None = None,
                 rounding_seeds: Mapping[int, bytes] | None = None,
                 noise_plans: Mapping[int, NoisePlan] | None = None, tamper: Tamper | None = None,
                 backend: ClientBackend | None = None, owns_backend: bool = False,
                 policy: ClientPolicy | None = None, graph_nonces: Mapping[int, bytes] | None = None) -> None:
        self.config, self.params, self.tamper = config, params, tamper
        self.schedule = dict(dropouts or {})
        ids = list(config.client_ids)
        seeds, plans = dict(rounding_seeds or {}), dict(noise_plans or {})
        if backend is None:
            backend, owns_backend = make_backend("inprocess")
        self.clients: ClientBackend = backend
        self._owns_backend = owns_backend
        nonces = dict(graph_nonces or {})
        self._open = True
        try:
            registry = self.clients.begin({cid: ClientSpec(seeds.get(cid), plans.get(cid), policy,
                                                           nonces.get(cid)) for cid in ids},
                                          identities=config.active)
        except BaseException:
            self.close()
            raise
        self.server = SecAggServer(config, identity_registry=registry)
        self.sent = {cid: {s.name: 0 for s in Stage} for cid in ids}
        self.received = {cid: {s.name: 0 for s in Stage} for cid in ids}
        self.client_time = dict.fromkeys(ids, 0.0)
        self.errors: dict[int, SecAggError] = {}
        self.rejected: dict[int, SecAggError] = {}
        self.server_time = self.server_cpu = self.client_cpu = 0.0
        self._requests: Mapping[int, bytes] | None = None  # encoded when read (server.requests)
        self._delivered: set[int] = set()  # clients given the current stage's request
        self._fed: set[int] = set()  # clients given their input

    # --- running ---------------------------------------------------------------------------
    def _server_call(self, fn: Callable[..., object], *args: object) -> object:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            self.server_time += time.perf_counter() - t0
            self.server_cpu += time.process_time() - c0

    def _deliver(self, only: set[int] | None = None) -> None:
        """Deliver the pending requests (of ``only`` these clients) and feed the server the replies,
        ``DELIVER_BATCH`` requests (or ``DELIVER_BYTES``) at a time: at n = 10^5 one stage's
        requests add up to tens of gigabytes (round 0's each carry the cohort's ids), so they are
        never all held at once."""
        assert self._requests is not None
        stage, requests = self.server.stage, self._requests
        outgoing: list[tuple[int, bytes]] = []
        size = 0
        # requests are encoded when read (secagg.protocol.server.requests): read each once, and
        # with ``only`` just those
        for cid in requests if only is None else sorted(c for c in only if c in requests):
            gone = self.schedule.get(cid)
            if (gone is not None and gone <= stage) or cid in self.errors or cid in self._delivered:
                continue
            request = self._server_call(requests.__getitem__, cid)  # encoding it is the server's work
            self._delivered.add(cid)
            if self.tamper is not None:
                request = self.tamper(stage, "request", cid, request)
                if request is None:
                    continue
            self.received[cid][stage.name] += len(request)
            outgoing.append((cid, request))
            size += len(request)
            if len(outgoing) >= DELIVER_BATCH or size >= DELIVER_BYTES:
                self._exchange(stage, outgoing)
                outgoing, size = [], 0
        if outgoing:
            self._exchange(stage, outgoing)

    def _exchange(self, stage: Stage, outgoing: list[tuple[int, bytes]]) -> None:
        """Hand the clients these requests; give the server each reply as it comes."""
        for outcome in self.clients.handle(outgoing):
            cid = outcome.client_id
            self.client_time[cid] += outcome.seconds
            self.client_cpu += outcome.cpu_seconds
            if outcome.error is not None:
                self.errors[cid] = outcome.error
                continue
            reply = outcome.reply
            if reply is not None and self.tamper is not None:
                reply = self.tamper(stage, "reply", cid, reply)
            if reply is None:
                continue
            self.sent[cid][stage.name] += len(reply)
            try:
                self._server_call(self.server.receive, cid, reply)
            except SecAggError as exc:
                self.rejected[cid] = exc

    def _advance(self) -> None:
        """Close the server's current stage (raises, after telling the clients, if it aborts)."""
        stage, server = self.server.stage, self.server
        self._delivered = set()
        try:
            self._requests = self._server_call(server.advance)  # type: ignore[assignment]
        except SecAggError as exc:
            # tell every client still taking part, so none keeps secrets waiting for a next round
            notices = [(cid, message) for cid, message in server.abort(str(exc)).items()
                       if cid not in self.errors and (self.schedule.get(cid) is None
                                                      or self.schedule[cid] > stage)]
            for _ in self.clients.handle(notices):
                pass
            raise

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run ``step``; on any error the session is over and the clients forget it."""
        try:
            step()
        except BaseException:
            self.close()
            raise

    def setup(self) -> None:
        """Run the input-independent rounds: stop when the server asks for masked inputs.

        Raises :class:`~secagg.errors.ThresholdError` if too few clients remain (the session is
        then over; :meth:`finish` must not be called).
        """
        def run() -> None:
            if self._requests is None:
                self._requests = self._server_call(self.server.start)  # type: ignore[assignment]
            while self._requests and self.server.stage < Stage.MASKED_INPUT:
                self._deliver()
                self._advance()

        self._guarded(run)

    def feed(self, inputs: Mapping[int, np.ndarray]) -> None:
        """After :meth:`setup`: hand these clients their inputs and collect their masked inputs
        now, as devices that finish training early upload early (the stage stays open)."""
        def run() -> None:
            assert self._requests is not None and self.server.stage is Stage.MASKED_INPUT
            fresh = {cid: u for cid, u in inputs.items() if cid not in self._fed}
            self._fed.update(fresh)
            for cid, exc in self.clients.provide(fresh).items():
                self.errors.setdefault(cid, exc)
            self._deliver(set(fresh))

        self._guarded(run)

    def finish(self, inputs: Mapping[int, np.ndarray]) -> SimulationResult:
        """Give the clients not yet fed their inputs (validated by the caller) and run the rest.

        Inputs are read and handed over ``FEED_BATCH`` clients at a time, each batch's masked
        inputs sent before the next is read: with a lazy ``inputs`` mapping (say one that draws
        each client's vector from its seed) at most one batch of inputs exists at once.
        """
        try:
            self.setup()
            if self._requests and self.server.stage is Stage.MASKED_INPUT:
                pending = [cid for cid in inputs if cid not in self._fed]
                for start in range(0, len(pending), FEED_BATCH):
                    self.feed({cid: inputs[cid] for cid in pending[start:start + FEED_BATCH]})
            while self._requests:
                self._deliver()
                self._advance()
        finally:
            self.close()
        return self._result()

    def close(self) -> None:
        """Make every client forget this session (idempotent)."""
        if self._open:
            self._open = False
            try:
                self.clients.end()
            finally:
                if self._owns_backend:
                    self.clients.close()

    def _result(self) -> SimulationResult:
        assert self.server.result is not None
        result, cfg = self.server.result, self.config
        total = None
        if cfg.input_kind == INPUT_FLOAT:
            total = dequantize(result.quantized_sum, clipping_range=cfg.clipping_range,
                               quantization_range=cfg.quantization_range,
                               modulus_range=cfg.modulus_range, num_clients=len(result.included))
        times = self.client_time
        return SimulationResult(
            quantized_sum=result.quantized_sum, total=total, included=result.included,
            params=self.params, config=cfg, bytes_sent=self.sent, bytes_received=self.received,
            seconds={"client": sum(times.values()), "client_max": max(times.values()),
                     "server": self.server_time, "client_cpu": self.client_cpu,
                     "server_cpu": self.server_cpu},
            client_seconds=times, client_errors=self.errors, rejected=self.rejected,
            blamed=result.blamed, refused=result.refused, excluded=result.excluded, graph=self.server.ctx.graph)


PROTOCOLS = ("secagg", "secagg+")
INPUT_KINDS = (INPUT_FLOAT, INPUT_QUANTIZED)

class _InputView(Mapping[int, np.ndarray]):
    """The caller's inputs under their canonical client ids, each array read when asked for (a
    lazy mapping is never materialised)."""

    def __init__(self, inputs: Mapping[int, np.ndarray], keys: dict[int, object]) -> None:
        self._inputs, self._keys = inputs, keys

    def __getitem__(self, cid: int) -> np.ndarray:
        return np.asarray(self._inputs[self._keys[cid]])  # type: ignore[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _inputs(inputs: Mapping[int, np.ndarray],
            quantization_range: object) -> tuple[list[int], Mapping[int, np.ndarray], str]:
    """Check the inputs of :func:`simulate` (ids, dtypes, lengths, finiteness, quantized values
    below Q) before any work, reading each once and keeping none: (sorted ids, id -> array, input
    kind)."""
    if not isinstance(inputs, Mapping) or len(inputs) < 2:
        raise InputError("inputs must map at least 2 client ids to 1-D vectors")
    keys = dict(zip(check_client_ids(inputs), inputs))
    view = _InputView(inputs, keys)
    shapes, dtypes, non_finite, top = set(), set(), None, 0
    for cid in keys:
        a = view[cid]
        shapes.add(a.shape)
        dtypes.add(a.dtype)
        if a.dtype.kind == "f" and non_finite is None and a.size and not np.isfinite(a).all():
            non_finite = cid
        elif a.dtype.kind == "u" and a.size:
            top = max(top, int(a.max()))
    ids = sorted(keys)
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ShapeError(f"inputs must be 1-D vectors of one length, got shapes {sorted(shapes)[:5]}")
    check_int("the input length", next(iter(shapes))[0], lo=1, hi=MAX_VECTOR_ELEMENTS, error=ShapeError)
    if dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
        if non_finite is not None:
            raise NonFiniteError(f"input of client {non_finite} contains NaN or infinity")
        return ids, view, INPUT_FLOAT
    if all(d.kind == "u" for d in dtypes):
        q = check_quantization(quantization_range)
        if top >= q:
            worst = next(cid for cid in keys if int(view[cid].max()) >= q)  # a second pass, only to name it
            raise InputError(f"quantized input of client {worst} has values >= quantization_range = {q}; "
                             "quantized inputs must lie in [0, quantization_range)")
        return ids, view, INPUT_QUANTIZED
    raise DTypeError("inputs must all be float32/float64 vectors or all unsigned (already quantized) vectors, "
                     f"got dtypes {sorted(map(str, dtypes))}")


def make_session(client_ids: Sequence[int], *, vector_length: int, input_kind: str = INPUT_FLOAT,
                 protocol: str = "secagg+", threat_model: str = "honest-but-curious",
                 dropouts: DropoutSchedule | None = None, clipping_range: float = 1.0,
                 quantization_range: int = 2**16, modulus_range: int | None = None,
                 corrupt_fraction: float = 0.05, dropout_fraction: float = 0.1,
                 num_neighbors: int | None = None, threshold: int | None = None,
                 rounding_seeds: Mapping[int, bytes] | None = None, graph_seed: bytes | None = None,
                 tamper: Tamper | None = None, noise_plans: Mapping[int, NoisePlan] | None = None,
                 backend: str | ClientBackend = "inprocess",
                 backend_options: Mapping[str, Any] | None = None) -> SimulatedSession:
    """A validated session for ``client_ids`` whose inputs will have ``vector_length`` elements
    (``input_kind`` ``"float"`` or ``"quantized"``); options as in :func:`simulate`."""
    check_choice("protocol", protocol, PROTOCOLS)
    check_backend(backend, backend_options)
    check_choice("input_kind", input_kind, INPUT_KINDS)
    ids = sorted(check_client_ids(client_ids))
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise InputError("a session needs at least 2 distinct client ids")
    length = check_int("vector_length", vector_length, lo=1, hi=MAX_VECTOR_ELEMENTS, error=ShapeError)
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    n = len(ids)
    params = find_parameters(n, corrupt_fraction=corrupt_fraction, dropout_fraction=dropout_fraction,
                             threat_model=threat_model, complete=protocol == "secagg",
                             num_neighbors=num_neighbors, threshold=threshold)
    r = default_modulus(n, q) if modulus_range is None else check_power_of_two_modulus(modulus_range)
    if n * (q - 1) >= r:
        raise ModulusError(f"modulus_range must be a power of two > n * (quantization_range - 1) = "
                           f"{n * (q - 1)}, got {r!r}")
    clients_seed = threat_model == "active" and params.kind == GRAPH_HARARY
    if graph_seed is not None:
        graph_seed = check_seed(graph_seed, "graph_seed")
    config = SessionConfig(client_ids=tuple(ids), graph_kind=params.kind, degree=params.degree,
                           threshold=params.threshold, modulus_range=r, vector_length=length,
                           clipping_range=c, quantization_range=q, threat_model=threat_model,
                           input_kind=input_kind, max_dropouts=params.max_dropouts,
                           graph_seed=None if clients_seed else graph_seed)
    # active SecAgg+: the clients draw the graph seed; a graph_seed given for tests fixes their nonces
    nonces = {cid: fixed_graph_nonce(graph_seed, cid) for cid in ids} if clients_seed and graph_seed else None
    schedule = check_dropouts(dropouts, ids)
    seeds = {check_client_id(cid, "a client id in rounding_seeds"): check_seed(seed, f"rounding_seeds[{cid!r}]")
             for cid, seed in (rounding_seeds or {}).items()}
    if set(seeds) - set(ids):
        raise InputError(f"rounding_seeds name unknown clients {sorted(set(seeds) - set(ids))[:5]}")
    plans = dict(noise_plans or {})
    if set(plans) - set(ids):
        raise InputError(f"noise_plans name unknown clients {sorted(set(plans) - set(ids))[:5]}")
    if any(not isinstance(plan, NoisePlan) for plan in plans.values()):
        raise ConfigError("noise_plans values must be NoisePlan instances")
    if plans and input_kind == INPUT_QUANTIZED and q > MAX_NOISY_QUANTIZATION:
        raise ConfigError(f"in-kernel noise on quantized inputs needs quantization_range <= 2**52, "
                          f"got {q}")
    clients, owned = make_backend(backend, backend_options)
    return SimulatedSession(config, params, dropouts=schedule, rounding_seeds=seeds,
                            noise_plans=plans, tamper=tamper, backend=clients, owns_backend=owned,
                            policy=ClientPolicy(corrupt_fraction=corrupt_fraction), graph_nonces=nonces)


def fixed_graph_nonce(graph_seed: bytes, client_id: int) -> bytes:
    """The graph-seed nonce a simulated client uses when a test fixes ``graph_seed`` (in active
    SecAgg+ the seed itself is drawn by the clients, so a test can only fix their nonces)."""
    return hashlib.sha256(b"secagg-test-graph-nonce" + graph_seed + client_id.to_bytes(8, "little")).digest()


def simulate(inputs: Mapping[int, np.ndarray], *, protocol: str = "secagg+",
             threat_model: str = "honest-but-curious", dropouts: DropoutSchedule | None = None,
             clipping_range: float = 1.0, quantization_range: int = 2**16,
             modulus_range: int | None = None, corrupt_fraction: float = 0.05,
             dropout_fraction: float = 0.1, num_neighbors: int | None = None,
             threshold: int | None = None, rounding_seeds: Mapping[int, bytes] | None = None,
             graph_seed: bytes | None = None, tamper: Tamper | None = None,
             noise_plans: Mapping[int, NoisePlan] | None = None,
             backend: str | ClientBackend = "inprocess",
             backend_options: Mapping[str, Any] | None = None) -> SimulationResult:
    """Aggregate ``inputs`` (client id -> float update, or unsigned vector already quantized to
    [0, quantization_range)) with SecAgg (``"secagg"``, complete graph) or SecAgg+ (``"secagg+"``,
    Harary graph; k and t from :func:`~secagg.protocol.params.find_parameters` unless overridden).

    ``rounding_seeds`` (client id -> 32 bytes) and ``graph_seed`` make a run reproducible for
    tests; by default both come from the OS CSPRNG. (In active SecAgg+ the graph seed is drawn by
    the clients; ``graph_seed`` then fixes their nonces, and ``result.graph`` is the graph they drew.) ``noise_plans`` (client id ->
    :class:`~secagg.protocol.config.NoisePlan`) makes those clients add their secret integer DP
    noise inside the fused native kernel, in the same pass as the masks. ``tamper`` lets tests
    play a malicious network or server. ``backend`` says where the clients run: ``"inprocess"`` (the
    default), ``"ray"`` (Ray actors; ``backend_options`` such as ``address``, ``num_cpus``,
    ``groups``, see :class:`~secagg.sim.backends.ray_backend.RayBackend`), or a
    :class:`~secagg.sim.backends.base.ClientBackend` the caller built (and keeps, e.g. across
    sessions); a backend built from a name is closed when the session ends. The result is the
    same wherever the clients run. Raises
    :class:`~secagg.errors.ThresholdError` when fewer than the threshold remain at a stage.
    """
    ids, arrays, input_kind = _inputs(inputs, quantization_range)
    session = make_session(ids, vector_length=next(iter(arrays.values())).shape[0], input_kind=input_kind,
                           protocol=protocol, threat_model=threat_model, dropouts=dropouts,
                           clipping_range=clipping_range, quantization_range=quantization_range,
                           modulus_range=modulus_range, corrupt_fraction=corrupt_fraction,
                           dropout_fraction=dropout_fraction, num_neighbors=num_neighbors,
                           threshold=threshold, rounding_seeds=rounding_seeds, graph_seed=graph_seed,
                           tamper=tamper, noise_plans=noise_plans, backend=backend,
                           backend_options=backend_options)
    return session.finish(arrays)  # read batch by batch (SimulatedSession.finish)
