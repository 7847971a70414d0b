"""Counts of the server's calls by method and gRPC status, for the metrics (thread-safe)."""

from __future__ import annotations

import threading
from collections import Counter


class RequestCounts:
    """``add(method, status)`` once per finished call; ``snapshot()`` for a scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, method: str, status: str) -> None:
        with self._lock:
            self._counts[(method, status)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)
