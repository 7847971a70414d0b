"""The clients of one group, wherever the backend hosts them (in process or in a Ray actor)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import InputError, SecAggError
from .base import ClientSpec, Outcome, portable_error


class ClientGroup:
    """A group's clients for one session at a time: identities, inputs, requests."""

    def __init__(self) -> None:
        self.identities: dict[int, Any] = {}
        self.clients: dict[int, Any] = {}

    def make_identities(self, ids: Iterable[int]) -> dict[int, bytes]:
        """A fresh Ed25519 identity key per client; returns their public keys."""
        from ...core.crypto import IdentityKey

        self.identities = {cid: IdentityKey() for cid in ids}
        return {cid: key.public for cid, key in self.identities.items()}

    def begin(self, specs: Mapping[int, ClientSpec], registry: Mapping[int, bytes]) -> None:
        """The session's clients, without inputs yet (they come with :meth:`provide`)."""
        from ...protocol.client import SecAggClient

        self.clients = {}
        self.clients = {cid: SecAggClient(cid, None, rounding_seed=spec.rounding_seed,
                                          identity=self.identities.get(cid), identity_registry=registry,
                                          noise=spec.noise, policy=spec.policy, graph_nonce=spec.graph_nonce)
                        for cid, spec in specs.items()}

    def provide(self, updates: Mapping[int, np.ndarray]) -> dict[int, SecAggError]:
        """Hand each client its input; a client that refuses it fails alone (id -> its error)."""
        unknown = [cid for cid in updates if cid not in self.clients]
        if unknown:
            raise InputError(f"clients {sorted(unknown)[:5]} are not part of this session")
        failed = {}
        for cid, update in updates.items():
            try:
                self.clients[cid].set_input(update)
            except SecAggError as exc:
                failed[cid] = portable_error(exc)
        return failed

    def run(self, cid: int, request: bytes) -> Outcome:
        """One client handles one request, timed; a protocol error is its outcome, not a raise."""
        t0, c0 = time.perf_counter(), time.process_time()
        reply, error = None, None
        try:
            reply = self.clients[cid].handle(request)
        except SecAggError as exc:
            error = portable_error(exc)
        return Outcome(cid, reply, error, time.perf_counter() - t0, time.process_time() - c0)

    def handle(self, requests: Sequence[tuple[int, bytes]]) -> list[Outcome]:
        return [self.run(cid, request) for cid, request in requests]

    def end(self) -> None:
        """Forget the clients, their identity keys and their inputs."""
        self.clients, self.identities = {}, {}
