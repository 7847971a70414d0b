"""Test helpers for the recommender tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from secagg.aggregators.base import Aggregator
from secagg.aggregators.plain import PlainAggregator
from secagg.protocol.stage import Stage


class Recording(Aggregator):
    """Wraps another aggregator and records what each round hands it."""

    name = "recording"

    def __init__(self, inner: Aggregator | None = None) -> None:
        self.inner = inner or PlainAggregator()
        self.calls: list[tuple[dict[int, np.ndarray], dict[int, Stage]]] = []

    def aggregate(self, updates: Mapping[int, np.ndarray], *, dropouts=None, round_index: int = 0):
        self.calls.append(({k: np.array(v) for k, v in updates.items()}, dict(dropouts or {})))
        return self.inner.aggregate(updates, dropouts=dropouts, round_index=round_index)

    def prepare(self, client_ids, *, vector_length, dropouts=None, round_index=0) -> None:
        self.inner.prepare(client_ids, vector_length=vector_length, dropouts=dropouts, round_index=round_index)

    def submit(self, client_id, update) -> None:
        self.inner.submit(client_id, update)

    def close(self) -> None:
        self.inner.close()
