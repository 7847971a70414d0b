"""The secure aggregators behave the same wherever their simulated clients run (in process or in Ray
actors): exact sums over rounds, the active model, typed errors, and a lost actor that costs only
its round."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import create_aggregator
from secagg.errors import ClientGroupError, ConfigError, DTypeError, InputError, ShapeError, ThresholdError
from secagg.protocol.stage import Stage

N, D = 10, 200
OPTIONS = dict(clipping_range=1.0, quantization_range=2**12, dropout_fraction=0.2)


def _updates(seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {cid: rng.uniform(-1, 1, D).astype(np.float32) for cid in range(N)}


@pytest.mark.parametrize("threat_model", ["honest-but-curious", "active"])
def test_prepare_submit_aggregate_is_exact_over_rounds(client_backend, threat_model):
    agg = create_aggregator("secagg+", backend=client_backend, threat_model=threat_model, **OPTIONS)
    try:
        for round_index in range(2):
            updates = _updates(round_index)
            drop = {3: Stage.MASKED_INPUT, 6: Stage.UNMASKING}
            agg.prepare(sorted(updates), vector_length=D, dropouts=drop, round_index=round_index)
            for cid in range(5):
                agg.submit(cid, updates[cid])
            result = agg.aggregate(updates, dropouts=drop, round_index=round_index)
            assert result.included == frozenset(set(updates) - {3})
            exact = sum(updates[c].astype(np.float64) for c in result.included)
            assert np.abs(result.total - exact).max() <= agg.error_bound(len(result.included))
        assert agg.aggregate(_updates(5)).included == frozenset(range(N))  # without prepare
    finally:
        agg.close()


def test_an_abort_is_a_threshold_error_and_bad_submissions_are_refused_locally(client_backend):
    agg = create_aggregator("secagg+", backend=client_backend, **OPTIONS)
    try:
        updates = _updates(6)
        drop = {cid: Stage.SHARE_KEYS for cid in range(N - 1)}
        agg.prepare(sorted(updates), vector_length=D, dropouts=drop)
        with pytest.raises(ThresholdError) as info:
            agg.aggregate(updates, dropouts=drop)
        assert info.value.stage == "SHARE_KEYS" and info.value.threshold is not None
        agg.prepare(sorted(updates), vector_length=D)
        with pytest.raises(InputError, match="not part"):
            agg.submit(99, updates[0])
        with pytest.raises(DTypeError):
            agg.submit(0, np.zeros(D, dtype=np.int32))
        with pytest.raises(ShapeError):
            agg.submit(0, np.zeros(D + 1))
        assert agg.aggregate(updates).included == frozenset(updates)
    finally:
        agg.close()


def test_dp_over_secagg_plus_gives_the_same_release_on_every_backend(client_backend):
    pytest.importorskip("dp_accounting")
    from secagg.dp import DPConfig, make_dp_aggregator

    config = DPConfig(clip_norm=1.0, clients_per_round=N, num_users=100, rounds=4, noise_multiplier=0.7,
                      sampling="fixed")
    updates = {cid: u.astype(np.float64) * 0.05 for cid, u in _updates(7).items()}
    seeds = {cid: bytes([cid]) * 32 for cid in updates}
    releases = []
    for where in ("inprocess", client_backend):
        agg = make_dp_aggregator("secagg+", config, D, session_seed=b"s" * 32,
                                 seed_source=lambda cid, r: seeds[cid], client_backend=where)
        try:
            releases.append(agg.aggregate(updates, round_index=0))
        finally:
            agg.close()
    np.testing.assert_array_equal(releases[0].total, releases[1].total)  # same seeds, same noise, same sum
    assert releases[0].included == releases[1].included == frozenset(updates)


def test_a_killed_actor_loses_its_round_loudly_and_the_next_round_starts_fresh(ray_instance):
    agg = create_aggregator("secagg+", backend="ray", backend_options={"groups": 2}, **OPTIONS)
    try:
        updates = _updates(9)
        assert agg.aggregate(updates).included == frozenset(updates)
        agg.prepare(sorted(updates), vector_length=D)
        agg.submit(0, updates[0])
        ray_instance.kill(agg._backend.get()._actors[1])  # during a round: that round is lost
        with pytest.raises(ClientGroupError, match="client group 1") as info:
            agg.aggregate(updates)
        assert info.value.group == 1
        assert agg.aggregate(updates).included == frozenset(updates)  # fresh actors
    finally:
        agg.close()


def test_backend_options_without_a_backend_name_are_refused(client_backend):
    with pytest.raises(ConfigError, match="already built"):
        create_aggregator("secagg+", backend=client_backend, backend_options={"groups": 2})
