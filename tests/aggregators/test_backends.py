"""A secure aggregator run in a coordinator process behaves like the one in process."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from secagg import create_aggregator
from secagg.aggregators.process import AggregatorProcess
from secagg.errors import (
    ConfigError,
    DTypeError,
    InputError,
    ShapeError,
    ThresholdError,
    WorkerError,
)
from secagg.protocol.stage import Stage

N, D = 10, 200
OPTIONS = dict(clipping_range=1.0, quantization_range=2**12, dropout_fraction=0.2)


def _updates(seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {cid: rng.uniform(-1, 1, D).astype(np.float32) for cid in range(N)}


def _bound(n: int) -> float:
    return create_aggregator("secagg+", **OPTIONS).error_bound(n)


@pytest.fixture(scope="module")
def remote():
    agg = AggregatorProcess("secagg+", workers=2, **OPTIONS)
    yield agg
    agg.close()


def test_prepare_submit_aggregate_is_exact_over_rounds(remote):
    for round_index in range(2):
        updates = _updates(round_index)
        drop = {3: Stage.MASKED_INPUT, 6: Stage.UNMASKING}
        remote.prepare(sorted(updates), vector_length=D, dropouts=drop, round_index=round_index)
        for cid in range(5):
            remote.submit(cid, updates[cid])
        result = remote.aggregate(updates, dropouts=drop, round_index=round_index)
        assert result.included == frozenset(set(updates) - {3})
        exact = sum(updates[c].astype(np.float64) for c in result.included)
        assert np.abs(result.total - exact).max() <= _bound(len(result.included))
        assert result.seconds["worker_cpu"] > 0


def test_aggregate_without_prepare(remote):
    updates = _updates(5)
    result = remote.aggregate(updates)
    assert result.included == frozenset(updates)


def test_an_abort_comes_back_as_threshold_error_and_the_next_round_works(remote):
    updates = _updates(6)
    drop = {cid: Stage.SHARE_KEYS for cid in range(N - 1)}
    remote.prepare(sorted(updates), vector_length=D, dropouts=drop)
    with pytest.raises(ThresholdError) as info:
        remote.aggregate(updates, dropouts=drop)
    assert info.value.stage == "SHARE_KEYS" and info.value.threshold is not None
    assert remote.aggregate(updates).included == frozenset(updates)


def test_bad_submissions_are_refused_locally_and_changes_are_caught(remote):
    updates = _updates(7)
    remote.prepare(sorted(updates), vector_length=D)
    with pytest.raises(InputError, match="not part"):
        remote.submit(99, updates[0])
    with pytest.raises(DTypeError):
        remote.submit(0, np.zeros(D, dtype=np.int32))
    with pytest.raises(ShapeError):
        remote.submit(0, np.zeros(D + 1))
    remote.submit(1, updates[1])
    changed = dict(updates)
    changed[1] = updates[1] + np.float32(0.25)
    with pytest.raises(InputError, match="differ"):
        remote.aggregate(changed)
    remote.prepare(sorted(updates)[:-1], vector_length=D)
    with pytest.raises(InputError, match="prepare"):
        remote.aggregate(updates)
    assert remote.aggregate(updates).included == frozenset(updates)


def test_bad_options_are_reported_by_the_first_call():
    agg = AggregatorProcess("secagg+", clipping_range=-1.0)
    with pytest.raises(ConfigError):
        agg.aggregate(_updates(8))
    agg.close()


def test_a_killed_coordinator_is_a_clear_error_then_a_fresh_one_starts():
    agg = AggregatorProcess("secagg", workers=1, **OPTIONS)
    try:
        updates = _updates(9)
        agg.aggregate(updates)
        os.kill(agg._proc.pid, signal.SIGKILL)  # between rounds: replaced without a fuss
        agg._proc.wait()
        assert agg.aggregate(updates).included == frozenset(updates)
        agg.prepare(sorted(updates), vector_length=D)
        agg.submit(0, updates[0])
        os.kill(agg._proc.pid, signal.SIGKILL)  # during a round: that round is lost, loudly
        agg._proc.wait()
        with pytest.raises(WorkerError, match="died"):
            agg.aggregate(updates)
        assert agg.aggregate(updates).included == frozenset(updates)
    finally:
        agg.close()
    assert agg._proc is None
