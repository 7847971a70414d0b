"""The default backend: every client in the calling process, one after another."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from ...errors import SecAggError
from .base import ClientBackend, ClientSpec, Job, Outcome, Result, Shared
from .group import ClientGroup


class InProcessBackend(ClientBackend):
    """All clients in one :class:`~.group.ClientGroup` in this process (no dependency, no start-up)."""

    name = "inprocess"
    remote = False

    def __init__(self) -> None:
        self._group = ClientGroup()

    def begin(self, specs: Mapping[int, ClientSpec], *, identities: bool = False) -> dict[int, bytes]:
        self._group.end()
        registry = self._group.make_identities(specs) if identities else {}
        self._group.begin(specs, registry)
        return registry

    def provide(self, updates: Mapping[int, np.ndarray]) -> dict[int, SecAggError]:
        return self._group.provide(updates)

    def handle(self, requests: Sequence[tuple[int, bytes]]) -> Iterator[Outcome]:
        for cid, request in requests:  # lazily: the server handles each reply before the next
            yield self._group.run(cid, request)

    def end(self) -> None:
        self._group.end()

    def map(self, fn: Callable[[Shared, Sequence[Job]], list[Result]], shared: Shared,
            jobs: Sequence[Job]) -> list[Result]:
        return fn(shared, list(jobs)) if jobs else []
