"""Simulated HE clients encrypting where a client backend runs them give the same sums as a loop."""

from __future__ import annotations

import numpy as np

from secagg.he import BFVAggregator


def test_every_backend_matches_the_loop(client_backend):
    agg = BFVAggregator(clipping_range=1.0, quantization_range=2**12, max_clients=16, backend=client_backend)
    rng = np.random.default_rng(9)
    updates = {cid: rng.uniform(-1, 1, 5000) for cid in range(4)}
    result = agg.aggregate(updates)
    expected = np.sum(list(updates.values()), axis=0)
    assert result.included == frozenset(updates) and not result.rejected
    assert np.max(np.abs(result.total - expected)) <= agg.error_bound(4)
    assert result.seconds["client"] > 0
    agg.close()
