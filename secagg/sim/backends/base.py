"""The client-backend interface: where a simulated session's clients live and compute.

A :class:`ClientBackend` hosts the clients of one session at a time. The session (server side,
in the caller) hands it each client's secrets-to-be (:class:`ClientSpec`), later their inputs,
and then, stage by stage, the requests a network would deliver; the backend answers with one
:class:`Outcome` per request, in the order they complete. Only protocol bytes and the clients'
inputs cross to the backend; a client's secrets (key pairs, identity key, self-mask seed, shares)
exist only where the backend hosts it. Two implementations: :mod:`.inprocess` (the default, in
the calling process) and :mod:`.ray_backend` (groups of clients in Ray actors).
"""

from __future__ import annotations

import abc
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ...errors import SecAggError

Job = TypeVar("Job")
Result = TypeVar("Result")
Shared = TypeVar("Shared")


@dataclass(frozen=True)
class ClientSpec:
    """A device's own secrets and assumptions for a session (never sent); its input comes later
    (``provide``). ``graph_nonce`` fixes its graph-seed nonce (reproducible tests only)."""

    rounding_seed: bytes | None = None
    noise: Any = None  # secagg.protocol.config.NoisePlan | None
    policy: Any = None  # secagg.protocol.policy.ClientPolicy | None (the default policy)
    graph_nonce: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    """One client's handling of one request: its reply (None after an abort) or its error."""

    client_id: int
    reply: bytes | None
    error: SecAggError | None
    seconds: float
    cpu_seconds: float


def portable_error(exc: SecAggError) -> SecAggError:
    """``exc`` if it survives pickling, else a plain SecAggError of the same message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure: fall back to the message
        return SecAggError(f"{type(exc).__name__}: {exc}")


class ClientBackend(abc.ABC):
    """Hosts one session's simulated clients at a time; reusable across sessions.

    ``remote`` is True when the clients compute outside the calling process (their CPU time is
    then not in the caller's clock, and a session may run in the background while it trains).
    """

    name: str
    remote: bool = False

    @abc.abstractmethod
    def begin(self, specs: Mapping[int, ClientSpec], *, identities: bool = False) -> dict[int, bytes]:
        """Host a new session's clients (replacing the last one's). With ``identities`` each client
        first creates its Ed25519 identity key where it is hosted; the registry (id -> public key)
        goes to every client, as a deployment's registration would. Returns it (empty without)."""

    @abc.abstractmethod
    def provide(self, updates: Mapping[int, np.ndarray]) -> dict[int, SecAggError]:
        """Hand hosted clients their inputs; returns the refusals (client id -> its error)."""

    @abc.abstractmethod
    def handle(self, requests: Sequence[tuple[int, bytes]]) -> Iterator[Outcome]:
        """Deliver each (client id, request); yield the outcomes in the order they complete."""

    @abc.abstractmethod
    def end(self) -> None:
        """Make every hosted client forget the session (and its secrets)."""

    @abc.abstractmethod
    def map(self, fn: Callable[[Shared, Sequence[Job]], list[Result]], shared: Shared,
            jobs: Sequence[Job]) -> list[Result]:
        """``fn(shared, part)`` over parts of ``jobs`` where the clients run; results in job order.
        For stateless client work (e.g. HE encryption under one public context)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the backend's workers (idempotent); a later session starts new ones."""

    def __enter__(self) -> ClientBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
