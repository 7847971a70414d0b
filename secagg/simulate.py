"""Run one SecAgg / SecAgg+ session in process: real clients, real server, real messages.

Dropouts follow a :data:`~secagg.aggregator.DropoutSchedule` (client id -> the stage *before which*
it vanishes). Every byte that would cross the network is counted per client and per stage, and
the time spent in client and server code is measured separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from .aggregator import DropoutSchedule, Stage
from .client_pool import ClientPool, ClientSpec, Outcome
from .crypto import IdentityKey
from .errors import ConfigError, DTypeError, InputError, SecAggError, ShapeError
from .protocol.client import SecAggClient
from .protocol.config import (INPUT_FLOAT, INPUT_QUANTIZED, MAX_NOISY_QUANTIZATION, NoisePlan,
                              SessionConfig, default_modulus)
from .protocol.params import GraphParameters, find_parameters
from .protocol.server import SecAggServer
from .quantize import check_clipping, check_quantization, dequantize

PROTOCOLS = ("secagg", "secagg+")

Tamper = Callable[[Stage, str, int, bytes], "bytes | None"]
"""Test hook: (stage, "request" | "reply", client id, bytes) -> bytes to deliver (None drops it)."""


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of one simulated session.

    ``quantized_sum`` is the sum mod R of the included clients' quantized inputs; ``total`` its
    de-quantized float64 value (None for quantized inputs). ``seconds``: wall-clock ``client``
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


def _inputs(inputs: Mapping[int, np.ndarray]) -> tuple[list[int], dict[int, np.ndarray], str]:
    if not isinstance(inputs, Mapping) or len(inputs) < 2:
        raise InputError("inputs must map at least 2 client ids to 1-D vectors")
    ids = sorted(inputs)
    for cid in ids:
        if isinstance(cid, bool) or not isinstance(cid, (int, np.integer)) or cid < 0:
            raise InputError(f"client ids must be non-negative ints, got {cid!r}")
    arrays = {int(c): np.asarray(inputs[c]) for c in ids}
    kinds = {a.dtype.kind for a in arrays.values()}
    if kinds not in ({"f"}, {"u"}):
        raise DTypeError("inputs must all be float vectors or all unsigned quantized vectors, "
                         f"got dtypes {sorted({str(a.dtype) for a in arrays.values()})}")
    lengths = {a.shape for a in arrays.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1 or next(iter(lengths))[0] == 0:
        raise ShapeError(f"inputs must be non-empty 1-D vectors of one length, got shapes {sorted(lengths)}")
    if kinds == {"f"}:
        for cid, a in arrays.items():
            if not np.all(np.isfinite(a)):
                raise InputError(f"input of client {cid} contains NaN or infinity")
    return [int(c) for c in ids], arrays, INPUT_FLOAT if kinds == {"f"} else INPUT_QUANTIZED


Deliver = Callable[[list[tuple[int, bytes]]], Iterator[Outcome]]


def _clients(ids: list[int], arrays: dict[int, np.ndarray], seeds: dict[int, bytes],
             plans: dict[int, NoisePlan], active: bool, pool: ClientPool | None
             ) -> tuple[Deliver, Callable[[], None], dict[int, bytes]]:
    """The session's clients, in process or in ``pool``'s workers: (deliver, finish, registry)."""
    if pool is not None:
        specs = {cid: ClientSpec(arrays[cid], seeds.get(cid), plans.get(cid)) for cid in ids}
        registry = pool.begin(specs, identities=active)
        return pool.handle, pool.end, registry
    identities = {cid: IdentityKey() for cid in ids} if active else {}
    registry = {cid: k.public for cid, k in identities.items()}
    clients = {cid: SecAggClient(cid, arrays[cid], rounding_seed=seeds.get(cid),
                                 identity=identities.get(cid), identity_registry=registry,
                                 noise=plans.get(cid))
               for cid in ids}

    def deliver(requests: list[tuple[int, bytes]]) -> Iterator[Outcome]:
        for cid, request in requests:
            t0, c0 = time.perf_counter(), time.process_time()
            reply, error = None, None
            try:
                reply = clients[cid].handle(request)
            except SecAggError as exc:
                error = exc
            yield Outcome(cid, reply, error, time.perf_counter() - t0, time.process_time() - c0)

    return deliver, lambda: None, registry


def simulate(inputs: Mapping[int, np.ndarray], *, protocol: str = "secagg+",
             threat_model: str = "honest-but-curious", dropouts: DropoutSchedule | None = None,
             clipping_range: float = 1.0, quantization_range: int = 2**16,
             modulus_range: int | None = None, corrupt_fraction: float = 0.05,
             dropout_fraction: float = 0.1, num_neighbors: int | None = None,
             threshold: int | None = None, rounding_seeds: Mapping[int, bytes] | None = None,
             graph_seed: bytes | None = None, tamper: Tamper | None = None,
             noise_plans: Mapping[int, NoisePlan] | None = None,
             pool: ClientPool | None = None) -> SimulationResult:
    """Aggregate ``inputs`` (client id -> float update, or unsigned vector already quantized to
    [0, quantization_range)) with SecAgg (``"secagg"``, complete graph) or SecAgg+ (``"secagg+"``,
    Harary graph; k and t from :func:`~secagg.protocol.params.find_parameters` unless overridden).

    ``rounding_seeds`` (client id -> 32 bytes) and ``graph_seed`` make a run reproducible for
    tests; by default both come from the OS CSPRNG. ``noise_plans`` (client id ->
    :class:`~secagg.protocol.config.NoisePlan`) makes those clients add their secret integer DP
    noise inside the fused native kernel, in the same pass as the masks. ``tamper`` lets tests
    play a malicious network or server. ``pool`` (a :class:`~secagg.client_pool.ClientPool`) runs
    the clients in its worker processes instead of this one; the result is the same. Raises :class:`~secagg.errors.ThresholdError` when fewer
    than the threshold remain at a stage.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    ids, arrays, input_kind = _inputs(inputs)
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    n = len(ids)
    params = find_parameters(n, corrupt_fraction=corrupt_fraction, dropout_fraction=dropout_fraction,
                             threat_model=threat_model, complete=protocol == "secagg",
                             num_neighbors=num_neighbors, threshold=threshold)
    r = default_modulus(n, q) if modulus_range is None else modulus_range
    if isinstance(r, bool) or not isinstance(r, int) or r < 2 or r & (r - 1) or n * (q - 1) >= r:
        raise ConfigError(f"modulus_range must be a power of two > n * (quantization_range - 1) = "
                          f"{n * (q - 1)}, got {r!r}")
    config = SessionConfig(client_ids=tuple(ids), graph_kind=params.kind, degree=params.degree,
                           threshold=params.threshold, modulus_range=r,
                           vector_length=next(iter(arrays.values())).shape[0], clipping_range=c,
                           quantization_range=q, threat_model=threat_model, input_kind=input_kind,
                           **({} if graph_seed is None else {"graph_seed": graph_seed}))
    schedule = dict(dropouts or {})
    unknown = set(schedule) - set(ids)
    if unknown:
        raise InputError(f"dropout schedule names unknown clients {sorted(unknown)[:5]}")
    plans = dict(noise_plans or {})
    if set(plans) - set(ids):
        raise InputError(f"noise_plans name unknown clients {sorted(set(plans) - set(ids))[:5]}")
    if any(not isinstance(plan, NoisePlan) for plan in plans.values()):
        raise ConfigError("noise_plans values must be NoisePlan instances")
    if plans and input_kind == INPUT_QUANTIZED and q > MAX_NOISY_QUANTIZATION:
        raise ConfigError(f"in-kernel noise on quantized inputs needs quantization_range <= 2**52, "
                          f"got {q}")
    seeds = dict(rounding_seeds or {})
    deliver, finish, registry = _clients(ids, arrays, seeds, plans, config.active, pool)
    server = SecAggServer(config, identity_registry=registry)
    sent = {cid: {s.name: 0 for s in Stage} for cid in ids}
    received = {cid: {s.name: 0 for s in Stage} for cid in ids}
    client_time = dict.fromkeys(ids, 0.0)
    errors: dict[int, SecAggError] = {}
    rejected: dict[int, SecAggError] = {}
    server_time = server_cpu = 0.0
    client_cpu = 0.0

    try:
        t0, c0 = time.perf_counter(), time.process_time()
        requests = server.start()
        server_time += time.perf_counter() - t0
        server_cpu += time.process_time() - c0
        while requests:
            stage = server.stage
            outgoing = []
            for cid, request in requests.items():
                gone = schedule.get(cid)
                if (gone is not None and gone <= stage) or cid in errors:
                    continue
                if tamper is not None:
                    request = tamper(stage, "request", cid, request)
                    if request is None:
                        continue
                received[cid][stage.name] += len(request)
                outgoing.append((cid, request))
            for outcome in deliver(outgoing):
                cid = outcome.client_id
                client_time[cid] += outcome.seconds
                client_cpu += outcome.cpu_seconds
                if outcome.error is not None:
                    errors[cid] = outcome.error
                    continue
                reply = outcome.reply
                if reply is None:
                    continue
                if tamper is not None:
                    reply = tamper(stage, "reply", cid, reply)
                    if reply is None:
                        continue
                sent[cid][stage.name] += len(reply)
                t0, c0 = time.perf_counter(), time.process_time()
                try:
                    server.receive(cid, reply)
                except SecAggError as exc:
                    rejected[cid] = exc
                finally:
                    server_time += time.perf_counter() - t0
                    server_cpu += time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                requests = server.advance()
            except SecAggError as exc:
                # tell every client still taking part, so none keeps secrets waiting for a next round
                notices = [(cid, message) for cid, message in server.abort(str(exc)).items()
                           if cid not in errors and (schedule.get(cid) is None or schedule[cid] > stage)]
                for _ in deliver(notices):
                    pass
                raise
            finally:
                server_time += time.perf_counter() - t0
                server_cpu += time.process_time() - c0
    finally:
        finish()
    assert server.result is not None
    result = server.result
    total = None
    if input_kind == INPUT_FLOAT:
        total = dequantize(result.quantized_sum, clipping_range=c, quantization_range=q,
                           modulus_range=r, num_clients=len(result.included))
    return SimulationResult(
        quantized_sum=result.quantized_sum, total=total, included=result.included, params=params,
        config=config, bytes_sent=sent, bytes_received=received,
        seconds={"client": sum(client_time.values()), "client_max": max(client_time.values()),
                 "server": server_time, "client_cpu": client_cpu, "server_cpu": server_cpu},
        client_seconds=client_time, client_errors=errors, rejected=rejected)
