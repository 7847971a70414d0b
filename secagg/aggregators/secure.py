"""``secagg`` and ``secagg+`` behind the common :class:`~secagg.aggregators.base.Aggregator` interface.

Each :meth:`aggregate` call runs one complete protocol session in process (real clients, real
server, real messages; see :func:`secagg.sim.simulate`) and de-quantizes the exact modular sum.
``seconds`` reports ``client``: CPU seconds of all clients together, ``server``: wall seconds.
``backend`` says where the simulated clients run (:mod:`secagg.sim.backends`). With a remote
backend (``"ray"``) a session begun with :meth:`prepare` runs its input-independent rounds (key
agreement, Shamir sharing) in the background while the caller trains the clients.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.quantize import check_clipping, check_quantization
from ..errors import InputError, SecAggError, ThresholdError
from ..protocol.config import check_power_of_two_modulus
from ..protocol.params import ProtocolOptions
from ..protocol.stage import DropoutSchedule, Stage, check_dropouts
from ..sim.backends.base import ClientBackend
from ..sim.backends.registry import BackendHolder
from ..sim.session import SimulatedSession, make_session
from .base import (
    AggregationResult,
    Aggregator,
    changed_submissions,
    check_updates,
    submission_changed_error,
)


def _kernel_float(update: np.ndarray, *, copy: bool = False) -> np.ndarray:
    """A float32/float64 vector as the masking kernel takes it (other float kinds widened)."""
    arr = np.asarray(update)
    if arr.dtype not in (np.float32, np.float64):
        return arr.astype(np.float64)
    return arr.copy() if copy else arr


_FEED_BATCHES = 6  # submitted inputs reach the remote clients in about this many batches


class _Prepared:
    """A session begun by ``prepare``. In the background (with a remote backend) a thread runs
    its input-independent rounds, then collects each submitted client's masked input as it comes."""

    def __init__(self, client_ids: tuple[int, ...], dropouts: dict[int, Stage], vector_length: int,
                 session: SimulatedSession, *, background: bool) -> None:
        self.client_ids, self.dropouts, self.vector_length = client_ids, dropouts, vector_length
        self.session, self.background = session, background
        self.submitted: dict[int, np.ndarray] = {}
        self._error: BaseException | None = None
        self._inbox: queue.SimpleQueue[tuple[int, np.ndarray] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="secagg-session", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self.session.setup()
            # feed the remote clients in a few batches: each wake-up of this thread costs the training
            # thread the GIL, so not one per client
            size = max(1, len(self.client_ids) // _FEED_BATCHES)
            done = False
            while not done:
                batch: dict[int, np.ndarray] = {}
                while len(batch) < size:
                    item = self._inbox.get()
                    if item is None:
                        done = True
                        break
                    batch[item[0]] = item[1]
                if batch and self.session.server.stage is Stage.MASKED_INPUT:
                    self.session.feed(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
            self._error = exc

    def submit(self, client_id: int, update: np.ndarray) -> None:
        self.submitted[client_id] = update
        if self._thread is not None:
            self._inbox.put((client_id, update))

    def wait(self) -> SimulatedSession:
        """The session once the background work is done (re-raises what it raised)."""
        if self._thread is not None:
            self._inbox.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self.session

    def discard(self) -> None:
        if self._thread is not None:
            self._inbox.put(None)
            self._thread.join()
        self.session.close()


class _ProtocolAggregator(Aggregator):
    protocol: str

    def __init__(self, *, clipping_range: float = 1.0, quantization_range: int = 2**16,
                 modulus_range: int | None = None, threat_model: str = "honest-but-curious",
                 corrupt_fraction: float = 0.05, dropout_fraction: float = 0.1,
                 num_neighbors: int | None = None, threshold: int | None = None,
                 backend: str | ClientBackend = "inprocess",
                 backend_options: Mapping[str, Any] | None = None) -> None:
        """``modulus_range``: a power of two, or None for the smallest that fits each round's
        sum; the rest as in :func:`secagg.simulate`; ``backend`` (``"inprocess"``, ``"ray"`` with
        ``backend_options``, or a built :class:`~secagg.sim.backends.base.ClientBackend`) hosts the
        simulated clients, reused every round."""
        self.clipping_range = check_clipping(clipping_range)
        self.quantization_range = check_quantization(quantization_range)
        if modulus_range is not None:
            check_power_of_two_modulus(modulus_range)
        self.modulus_range = modulus_range
        self.options = ProtocolOptions(threat_model=threat_model, corrupt_fraction=corrupt_fraction,
                                       dropout_fraction=dropout_fraction, num_neighbors=num_neighbors,
                                       threshold=threshold)
        self._backend = BackendHolder(backend, backend_options)
        self._prepared: _Prepared | None = None

    @property
    def threat_model(self) -> str:
        return self.options.threat_model

    def error_bound(self, num_clients: int) -> float:
        """Largest per-coordinate error of a sum (stochastic rounding: < 1 level per client)."""
        return num_clients * 2 * self.clipping_range / (self.quantization_range - 1) + 1e-9

    def _session(self, client_ids: Sequence[int], vector_length: int,
                 dropouts: DropoutSchedule | None) -> SimulatedSession:
        return make_session(client_ids, vector_length=vector_length, protocol=self.protocol,
                            dropouts=dropouts, clipping_range=self.clipping_range,
                            quantization_range=self.quantization_range,
                            modulus_range=self.modulus_range, backend=self._backend.get(),
                            **self.options.as_kwargs())

    def prepare(self, client_ids: Sequence[int], *, vector_length: int,
                dropouts: DropoutSchedule | None = None, round_index: int = 0) -> None:
        """Start the session; with a remote backend its key agreement runs in the background."""
        self._discard()
        super().prepare(client_ids, vector_length=vector_length, dropouts=dropouts, round_index=round_index)
        if len(client_ids) < 2:
            return  # aggregate() will refuse the round
        session = self._session(client_ids, vector_length, dropouts)
        self._prepared = _Prepared(tuple(session.config.client_ids), dict(dropouts or {}),
                                   vector_length, session, background=self._backend.remote)

    def submit(self, client_id: int, update: np.ndarray) -> None:
        """One prepared client's update, as soon as it is trained: with a remote backend it is
        masked and uploaded while the others still train."""
        super().submit(client_id, update)  # checked at once, wherever the clients run
        prepared = self._prepared
        if prepared is not None:  # in process: kept for the check, aggregate() does all the work
            prepared.submit(client_id, _kernel_float(update, copy=True))

    def aggregate(self, updates: Mapping[int, np.ndarray], *, dropouts: DropoutSchedule | None = None,
                  round_index: int = 0) -> AggregationResult:
        try:
            ids, length = check_updates(updates)
            dropouts = check_dropouts(dropouts, ids)
            if len(ids) < 2:  # one client's "sum" would be its own update
                raise ThresholdError("secure aggregation needs at least 2 clients in a round",
                                     stage=Stage.ADVERTISE_KEYS.name, survivors=len(ids), threshold=2)
        except SecAggError:
            self._discard()  # an aggregate call always ends the prepared round
            raise
        prepared, self._prepared, self._prepared_round = self._prepared, None, None
        if prepared is not None and (prepared.client_ids != tuple(ids) or prepared.dropouts != dict(
                dropouts or {}) or prepared.vector_length != length):
            prepared.discard()
            raise InputError("aggregate() must get the updates of exactly the clients passed to "
                             "prepare(), of the length and with the dropouts given there")
        inputs = {cid: _kernel_float(updates[cid]) for cid in ids}
        if prepared is not None:
            changed = changed_submissions(prepared.submitted, inputs)
            session = prepared.wait()
            if changed:
                session.close()
                raise submission_changed_error(changed)
        else:
            session = self._session(ids, length, dropouts)
        result = session.finish(inputs)
        assert result.total is not None
        return AggregationResult(total=result.total, included=result.included,
                                 bytes_sent=result.bytes_sent, bytes_received=result.bytes_received,
                                 seconds={"client": result.seconds["client_cpu"],
                                          "server": result.seconds["server"],
                                          # CPU spent outside this process (0 in process)
                                          "worker_cpu": result.seconds["client_cpu"]
                                          if self._backend.remote else 0.0})

    def _discard(self) -> None:
        self._prepared_round = None
        if self._prepared is not None:
            self._prepared.discard()
            self._prepared = None

    def close(self) -> None:
        """Drop an unfinished prepared session and release the backend (if built from a name)."""
        self._discard()
        self._backend.close()


class SecAggAggregator(_ProtocolAggregator):
    """SecAgg (Bonawitz et al. 2017): every client masks and shares with every other."""

    name = "secagg"
    protocol = "secagg"


class SecAggPlusAggregator(_ProtocolAggregator):
    """SecAgg+ (Bell et al. 2020): masks and shares only along a random Harary graph."""

    name = "secagg+"
    protocol = "secagg+"
