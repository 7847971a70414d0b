"""he-ckks: approximate sums within the stated error bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import create_aggregator
from secagg.errors import ConfigError


@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1), dim=st.integers(1, 5000), num_clients=st.integers(2, 10))
def test_sum_within_the_stated_bound(ckks, seed, dim, num_clients):
    rng = np.random.default_rng(seed)
    updates = {cid: rng.uniform(-1, 1, dim) for cid in range(num_clients)}
    result = ckks.aggregate(updates)
    expected = np.sum(list(updates.values()), axis=0)
    assert result.included == frozenset(updates)
    assert np.max(np.abs(result.total - expected)) <= ckks.error_bound(num_clients)


def test_extreme_values_and_clipping(ckks):
    dim = 3000
    updates = {0: np.full(dim, 1.0), 1: np.full(dim, -1.0), 2: np.full(dim, 7.0),
               3: np.linspace(-1, 1, dim)}
    result = ckks.aggregate(updates)
    expected = 1.0 - 1.0 + 1.0 + np.linspace(-1, 1, dim)  # client 2 is clipped to 1.0
    assert np.max(np.abs(result.total - expected)) <= ckks.error_bound(4)


def test_bound_is_not_vacuous(ckks):
    """The bound is far below the values' scale and above the errors actually seen."""
    rng = np.random.default_rng(3)
    updates = {cid: rng.uniform(-1, 1, 2048) for cid in range(16)}
    result = ckks.aggregate(updates)
    err = np.max(np.abs(result.total - np.sum(list(updates.values()), axis=0)))
    assert err > 0  # it is approximate
    assert ckks.error_bound(16) < 1e-4


def test_ckks_refuses_a_quantization_range_and_clips_at_its_clipping_range():
    with pytest.raises(ConfigError, match="no option 'quantization_range'"):  # CKKS does not quantize
        create_aggregator("he-ckks", clipping_range=0.5, quantization_range=2**8)
    agg = create_aggregator("he-ckks", clipping_range=0.5)
    result = agg.aggregate({1: np.full(4, 0.25), 2: np.full(4, 0.75)})
    np.testing.assert_allclose(result.total, 0.75, atol=agg.error_bound(2))
