"""``he-bfv`` and ``he-ckks``: the homomorphic-encryption aggregators behind the common interface.

One round: every client that survives to the upload stage encrypts its update under the key
holder's public key; the server checks and adds the ciphertexts without any secret; the key holder
decrypts the sum. There is no recovery round: a client that drops before uploading is simply not
in the sum, and a client whose upload is malformed is excluded and reported in
:attr:`HEAggregationResult.rejected`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..aggregators.base import AggregationResult, Aggregator, validate_updates
from ..errors import ConfigError, HEError, ProtocolError, ThresholdError
from ..protocol.stage import DropoutSchedule, check_dropouts, contributes
from ..sim.backends.base import ClientBackend
from ..sim.backends.registry import BackendHolder
from .client import Client, encrypt_batch
from .keyholder import KeyHolder
from .params import (
    DEFAULT_CLIPPING_RANGE,
    DEFAULT_MAX_CLIENTS,
    DEFAULT_QUANTIZATION_RANGE,
    BFVParameters,
    CKKSParameters,
    choose_bfv_parameters,
    choose_ckks_parameters,
)
from .schemes import make_scheme
from .server import Server

UPLOAD_STAGE = "MASKED_INPUT"
KEY_STAGE = "ADVERTISE_KEYS"


@dataclass(frozen=True)
class HEAggregationResult(AggregationResult):
    """An :class:`AggregationResult` that also names the clients whose uploads were refused."""

    rejected: Mapping[int, Exception] = field(default_factory=dict)
    aggregate_bytes: int = 0


class _HEAggregator(Aggregator):
    """Shared round logic; subclasses pick the scheme and its parameters."""

    name: ClassVar[str]

    def __init__(self, params: BFVParameters | CKKSParameters, *, min_clients: int,
                 backend: str | ClientBackend, backend_options: Mapping[str, Any] | None,
                 n_threads: int | None) -> None:
        self._backend = BackendHolder(backend, backend_options)
        self.params = params
        self.scheme = make_scheme(params)
        self.key_holder = KeyHolder(self.scheme, min_clients=min_clients, n_threads=n_threads)
        self._public = self.key_holder.public_context()
        self._n_threads = n_threads
        # All simulated clients hold the same public context, so one Client object serves them.
        self.client = Client(self.scheme, self._public, n_threads=n_threads)
        self._clients_with_context: set[int] = set()
        self._next_tag = 0

    def error_bound(self, num_clients: int) -> float:
        """Largest per-coordinate error of a sum over ``num_clients`` updates within the clip."""
        return self.scheme.error_bound(num_clients)

    def close(self) -> None:
        """Release the client backend (if built from a name)."""
        self._backend.close()

    @property
    def public_context_bytes(self) -> int:
        return len(self._public)

    def new_round_tag(self) -> int:
        """A fresh round tag (the key holder decrypts each tag at most once)."""
        tag = self._next_tag
        self._next_tag += 1
        return tag

    def aggregate(self, updates: Mapping[int, np.ndarray], *,
                  dropouts: DropoutSchedule | None = None,
                  round_index: int = 0) -> HEAggregationResult:
        ids, matrix = validate_updates(updates)
        if len(ids) > self.params.max_clients:
            raise ConfigError(f"{len(ids)} clients exceed max_clients={self.params.max_clients} "
                              "the keys were sized for; build the aggregator with a larger "
                              "max_clients")
        dropouts = check_dropouts(dropouts, ids)
        tag = self.new_round_tag()
        uploading = [(cid, matrix[i]) for i, cid in enumerate(ids)
                     if contributes(dropouts.get(cid))]
        if not uploading:
            raise ThresholdError("no client survived to upload its update", stage=UPLOAD_STAGE,
                                 survivors=0, threshold=self.key_holder.min_clients)
        payloads, client_seconds = self.encrypt_clients(uploading, tag)
        return self.aggregate_payloads(payloads, dim=matrix.shape[1], round_tag=tag,
                                       client_seconds=client_seconds)

    def encrypt_clients(self, uploading: list[tuple[int, np.ndarray]],
                        round_tag: int) -> tuple[dict[int, bytes], float]:
        """Every uploading client's payload and the total client-side seconds."""
        if self._backend.remote and len(uploading) > 1:  # each remote worker loads the context once
            done = self._backend.get().map(encrypt_batch, (self.params, self._public, round_tag), uploading)
            return {cid: p for cid, p, _ in done}, sum(secs for _, _, secs in done)
        payloads = {}
        start = time.perf_counter()
        for cid, row in uploading:
            payloads[cid] = self.client.encrypt(row, round_tag=round_tag)
        return payloads, time.perf_counter() - start

    def aggregate_payloads(self, payloads: Mapping[int, bytes], *, dim: int, round_tag: int,
                           client_seconds: float = 0.0) -> HEAggregationResult:
        """Server and key-holder side of a round, from the clients' upload bytes."""
        start = time.perf_counter()
        server = Server(self.scheme, self._public, dim=dim, round_tag=round_tag,
                        n_threads=self._n_threads)
        for cid in sorted(payloads):
            try:
                server.receive(cid, payloads[cid])
            except (HEError, ProtocolError):
                pass  # recorded in server.rejected; the others' contributions are kept
        aggregate = server.aggregate()
        server_seconds = time.perf_counter() - start
        start = time.perf_counter()
        total, count = self.key_holder.decrypt(aggregate)
        keyholder_seconds = time.perf_counter() - start
        included = frozenset(server.included)
        if count != len(included):  # pragma: no cover - the server and key holder disagree
            raise HEError(f"the key holder decrypted a sum of {count} clients, the server added "
                          f"{len(included)}")
        sent = {cid: {UPLOAD_STAGE: len(p)} for cid, p in payloads.items()}
        received = {}
        for cid in payloads:
            first = cid not in self._clients_with_context
            received[cid] = {KEY_STAGE: len(self._public) if first else 0, UPLOAD_STAGE: 0}
            self._clients_with_context.add(cid)
        return HEAggregationResult(
            total=np.asarray(total, dtype=np.float64),
            included=included,
            bytes_sent=sent,
            bytes_received=received,
            seconds={"client": client_seconds, "server": server_seconds,
                     "keyholder": keyholder_seconds},
            rejected=dict(server.rejected),
            aggregate_bytes=len(aggregate),
        )


class BFVAggregator(_HEAggregator):
    """``he-bfv``: exact sums of quantized updates (error only from stochastic rounding).

    Options: ``clipping_range`` (c), ``quantization_range`` (Q), ``max_clients`` (sizes the plain
    modulus so max_clients * (Q-1) cannot wrap), ``min_clients`` (the key holder's decryption
    policy), ``backend`` / ``backend_options`` (where simulated clients encrypt: ``"inprocess"``
    or ``"ray"``), ``n_threads`` (TenSEAL),
    ``poly_modulus_degree`` + ``coeff_mod_bit_sizes`` (an explicit ring).
    """

    name = "he-bfv"

    def __init__(self, *, clipping_range: float = DEFAULT_CLIPPING_RANGE,
                 quantization_range: int = DEFAULT_QUANTIZATION_RANGE,
                 max_clients: int = DEFAULT_MAX_CLIENTS, min_clients: int = 2,
                 backend: str | ClientBackend = "inprocess", backend_options: Mapping[str, Any] | None = None,
                 n_threads: int | None = None, poly_modulus_degree: int | None = None,
                 coeff_mod_bit_sizes: tuple[int, ...] | None = None) -> None:
        params = choose_bfv_parameters(clipping_range=clipping_range,
                                       quantization_range=quantization_range,
                                       max_clients=max_clients,
                                       poly_modulus_degree=poly_modulus_degree,
                                       coeff_mod_bit_sizes=coeff_mod_bit_sizes)
        super().__init__(params, min_clients=min_clients, backend=backend, backend_options=backend_options,
                         n_threads=n_threads)


class CKKSAggregator(_HEAggregator):
    """``he-ckks``: approximate float sums of clipped updates within :meth:`error_bound`.

    CKKS encodes floats at scale ``2**scale_bits`` instead of quantizing, so it takes no
    ``quantization_range``. Options: ``clipping_range``, ``max_clients``, ``min_clients``,
    ``backend``, ``backend_options``, ``n_threads``, ``scale_bits``, ``poly_modulus_degree``, ``coeff_mod_bit_sizes``.
    """

    name = "he-ckks"

    def __init__(self, *, clipping_range: float = DEFAULT_CLIPPING_RANGE,
                 max_clients: int = DEFAULT_MAX_CLIENTS, min_clients: int = 2,
                 backend: str | ClientBackend = "inprocess", backend_options: Mapping[str, Any] | None = None,
                 n_threads: int | None = None, scale_bits: int = 40, poly_modulus_degree: int = 4096,
                 coeff_mod_bit_sizes: tuple[int, ...] = (60, 49)) -> None:
        params = choose_ckks_parameters(clipping_range=clipping_range, max_clients=max_clients,
                                        scale_bits=scale_bits,
                                        poly_modulus_degree=poly_modulus_degree,
                                        coeff_mod_bit_sizes=coeff_mod_bit_sizes)
        super().__init__(params, min_clients=min_clients, backend=backend, backend_options=backend_options,
                         n_threads=n_threads)
