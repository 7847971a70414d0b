"""Shared, module-scoped HE objects: key generation is the slow part, so tests reuse keys."""

from __future__ import annotations

import pytest

pytest.importorskip("tenseal")

from secagg.he import BFVAggregator, CKKSAggregator  # noqa: E402


@pytest.fixture(scope="session")
def bfv() -> BFVAggregator:
    return BFVAggregator(clipping_range=1.0, quantization_range=2**12, max_clients=64)


@pytest.fixture(scope="session")
def ckks() -> CKKSAggregator:
    return CKKSAggregator(clipping_range=1.0, max_clients=64)
