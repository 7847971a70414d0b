"""End to end: the decoded aggregate's error has the configured noise variance."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.aggregators.base import Aggregator
from secagg.dp import DPConfig, make_dp_aggregator
from secagg.dp.mechanism import (
    RoundCodec,
    clip_l2,
    expected_error_variance,
    to_residues,
    to_signed,
)
from secagg.errors import ShapeError, ThresholdError
from secagg.protocol.stage import Stage


def seeds(cid: int, rnd: int) -> bytes:
    return bytes([cid % 256, rnd % 256]) + bytes(30)


def make(noise: float, dim: int = 2000, n: int = 12, bits: int = 32, **kw):
    cfg = DPConfig(clip_norm=1.0, clients_per_round=n, num_users=200, rounds=10, sampling="fixed",
                   noise_multiplier=noise, bits=bits, **kw)
    return make_dp_aggregator("plain", cfg, dim, session_seed=bytes(32), seed_source=seeds)


def updates(n: int, dim: int, rng) -> dict[int, np.ndarray]:
    return {i: rng.normal(size=dim) * (0.5 if i % 2 else 0.05) for i in range(n)}


def test_is_an_aggregator_and_error_variance_matches() -> None:
    rng = np.random.default_rng(5)
    agg = make(noise=0.8)
    assert isinstance(agg, Aggregator)
    ups = updates(12, 2000, rng)
    clipped = sum(clip_l2(u, 1.0) for u in ups.values())
    errs = []
    for rnd in range(3):
        res = agg.aggregate(ups, round_index=rnd)
        errs.append(res.total - clipped)
        assert res.included == frozenset(range(12))
    err = np.concatenate(errs)
    # noise variance per coordinate plus rounding (< n/4 per coordinate, scaled)
    target = expected_error_variance(agg.params, 12)
    rounding = 12 / 4 / agg.params.scale**2
    assert abs(err.mean()) < 5 * np.sqrt(target / err.size)
    assert target * (1 - 5 * np.sqrt(2 / err.size)) <= err.var()
    assert err.var() <= (target + rounding) * (1 + 5 * np.sqrt(2 / err.size))
    assert target == pytest.approx((0.8 * 1.0) ** 2 * (1 + agg.params.rounding_inflation) ** 2)
    assert len(agg.ledger.history) == 3 and agg.ledger.history[-1]["epsilon_release"] > 0


def test_without_noise_the_sum_is_recovered_up_to_rounding() -> None:
    rng = np.random.default_rng(6)
    agg = make(noise=0.0)
    ups = updates(12, 2000, rng)
    res = agg.aggregate(ups)
    clipped = sum(clip_l2(u, 1.0) for u in ups.values())
    # each client's rounding error is < 1 per rotated coordinate: <= 12 / scale in norm per coord
    assert np.linalg.norm(res.total - clipped) <= 12 * np.sqrt(agg.params.padded_dim) / agg.params.scale


def test_dropouts_lower_the_noise_and_are_charged() -> None:
    rng = np.random.default_rng(7)
    agg = make(noise=1.0, min_clients=12)
    ups = updates(12, 2000, rng)
    res = agg.aggregate(ups, dropouts={0: Stage.MASKED_INPUT, 1: Stage.SHARE_KEYS})
    assert res.included == frozenset(range(2, 12))
    full = make(noise=1.0, min_clients=12)
    full.aggregate(ups)
    assert agg.ledger.epsilon() > full.ledger.epsilon()
    with pytest.raises(ThresholdError):
        agg.aggregate(ups, dropouts={i: Stage.ADVERTISE_KEYS for i in range(12)})


def test_residues_round_trip_and_wrong_length() -> None:
    v = np.array([-5, 0, 7, -(2**15), 2**15 - 1], dtype=np.int64)
    np.testing.assert_array_equal(to_signed(to_residues(v, 16), 16), v)
    np.testing.assert_array_equal(to_signed(to_residues(v, 64), 64), v)
    agg = make(noise=1.0)
    with pytest.raises(ShapeError):
        agg.aggregate({0: np.zeros(10)})
    codec = RoundCodec(agg.params, bytes(32))
    with pytest.raises(ShapeError):
        codec.decode(np.zeros(3, dtype=np.uint64))


@pytest.mark.parametrize("backend", ["masked", "secagg+", "secagg"])
def test_backends_agree_with_plain(backend: str) -> None:
    rng = np.random.default_rng(8)
    ups = updates(8, 700, rng)
    cfg = DPConfig(clip_norm=1.0, clients_per_round=8, num_users=100, rounds=4, noise_multiplier=0.7,
                   sampling="fixed")
    ref = make_dp_aggregator("plain", cfg, 700, session_seed=bytes(32), seed_source=seeds)
    other = make_dp_aggregator(backend, cfg, 700, session_seed=bytes(32), seed_source=seeds)
    a, b = ref.aggregate(ups, round_index=2), other.aggregate(ups, round_index=2)
    assert a.included == b.included
    # same seeds -> same rounding and noise: identical noisy sums
    np.testing.assert_array_equal(a.total, b.total)
    assert other.ledger.epsilon() == pytest.approx(ref.ledger.epsilon())


def test_secagg_plus_with_dropouts() -> None:
    rng = np.random.default_rng(9)
    ups = updates(10, 500, rng)
    cfg = DPConfig(clip_norm=1.0, clients_per_round=10, num_users=100, rounds=4, noise_multiplier=0.7, sampling="fixed",
                   min_clients=8)
    agg = make_dp_aggregator("secagg+", cfg, 500, session_seed=bytes(32), seed_source=seeds)
    res = agg.aggregate(ups, dropouts={3: Stage.MASKED_INPUT, 5: Stage.UNMASKING})
    assert 3 not in res.included and 5 in res.included
    ref = make_dp_aggregator("plain", cfg, 500, session_seed=bytes(32), seed_source=seeds)
    sub = {c: u for c, u in ups.items() if c in res.included}
    # the same seeds of the included clients give the same sum
    np.testing.assert_array_equal(ref.aggregate(sub).total, res.total)
