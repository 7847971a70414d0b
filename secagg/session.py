"""One simulated SecAgg / SecAgg+ session, run in two parts so the first can overlap local training.

The rounds before the masked input (ADVERTISE_KEYS, SHARE_KEYS: key pairs, key agreement, Shamir
shares, encrypted share exchange) do not depend on the clients' inputs. :meth:`SimulatedSession.setup`
runs them; :meth:`SimulatedSession.finish` then hands each client its input and runs the rest
(MASKED_INPUT, CONSISTENCY_CHECK, UNMASKING). Real deployments do the same: devices can agree on
keys while they train. :func:`secagg.simulate.simulate` calls both in a row.

Every byte that would cross the network is counted per client and per stage, and the time spent
in client and server code is measured separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .aggregator import DropoutSchedule, Stage
from .client_pool import ClientPool, ClientSpec, InProcessClients
from .errors import SecAggError
from .protocol.config import INPUT_FLOAT, NoisePlan, SessionConfig
from .protocol.params import GraphParameters
from .protocol.server import SecAggServer
from .quantize import dequantize

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


class SimulatedSession:
    """A real :class:`SecAggServer` and simulated clients (in process, or in a ``pool``).

    ``config`` and ``params`` come from :func:`secagg.simulate.make_session`, which validates
    them. Call :meth:`setup` (optional, e.g. from a background thread) and then :meth:`finish`.
    """

    def __init__(self, config: SessionConfig, params: GraphParameters, *,
                 dropouts: DropoutSchedule | None = None,
                 rounding_seeds: Mapping[int, bytes] | None = None,
                 noise_plans: Mapping[int, NoisePlan] | None = None, tamper: Tamper | None = None,
                 pool: ClientPool | None = None) -> None:
        self.config, self.params, self.tamper = config, params, tamper
        self.schedule = dict(dropouts or {})
        ids = list(config.client_ids)
        seeds, plans = dict(rounding_seeds or {}), dict(noise_plans or {})
        self.clients: ClientPool | InProcessClients = pool if pool is not None else InProcessClients()
        registry = self.clients.begin({cid: ClientSpec(seeds.get(cid), plans.get(cid)) for cid in ids},
                                      identities=config.active)
        self._open = True
        self.server = SecAggServer(config, identity_registry=registry)
        self.sent = {cid: {s.name: 0 for s in Stage} for cid in ids}
        self.received = {cid: {s.name: 0 for s in Stage} for cid in ids}
        self.client_time = dict.fromkeys(ids, 0.0)
        self.errors: dict[int, SecAggError] = {}
        self.rejected: dict[int, SecAggError] = {}
        self.server_time = self.server_cpu = self.client_cpu = 0.0
        self._requests: dict[int, bytes] | None = None
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
        """Deliver the pending requests (of ``only`` these clients) and feed the server the replies."""
        assert self._requests is not None
        stage, server = self.server.stage, self.server
        outgoing = []
        for cid, request in self._requests.items():
            gone = self.schedule.get(cid)
            if ((gone is not None and gone <= stage) or cid in self.errors or cid in self._delivered
                    or (only is not None and cid not in only)):
                continue
            self._delivered.add(cid)
            if self.tamper is not None:
                request = self.tamper(stage, "request", cid, request)
                if request is None:
                    continue
            self.received[cid][stage.name] += len(request)
            outgoing.append((cid, request))
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
                self._server_call(server.receive, cid, reply)
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
        """Give the clients not yet fed their inputs (validated by the caller) and run the rest."""
        try:
            self.setup()
            if self._requests and self.server.stage is Stage.MASKED_INPUT:
                self.feed(inputs)
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
            self.clients.end()

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
            client_seconds=times, client_errors=self.errors, rejected=self.rejected)
