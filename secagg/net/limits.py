"""Per-client limits on concurrent calls, so one client cannot hold the server's RPC threads.

A waiting long-poll holds one of the server's worker threads; an honest client has one call in
flight at a time (two briefly, after a client-side timeout). :class:`CallLimiter` refuses a
client's call beyond ``per_client`` concurrent ones at once with
:class:`~secagg.errors.TooManyCallsError` (gRPC ``RESOURCE_EXHAUSTED``; clients back off and
retry), so a client holding many long-polls starves nobody but itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConfigError, TooManyCallsError


class CallLimiter:
    def __init__(self, per_client: int) -> None:
        if per_client < 1:
            raise ConfigError("the per-client call limit must be >= 1")
        self.per_client = per_client
        self._active: dict[int, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, client_id: int) -> Iterator[None]:
        """Hold one of ``client_id``'s call slots for the body; refuses if none is free."""
        with self._lock:
            n = self._active.get(client_id, 0)
            if n >= self.per_client:
                raise TooManyCallsError(f"client {client_id} already has {n} calls in flight (the "
                                        f"limit is {self.per_client}); wait for them before calling again")
            self._active[client_id] = n + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._active[client_id] - 1
                if left:
                    self._active[client_id] = left
                else:
                    del self._active[client_id]

    def in_flight(self, client_id: int) -> int:
        with self._lock:
            return self._active.get(client_id, 0)
