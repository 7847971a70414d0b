"""The secagg / secagg+ DP path adds its Skellam noise inside the clients' fused native kernel."""

from __future__ import annotations

import numpy as np
import pytest

import secagg
import secagg.dp.aggregator as dp_aggregator
import secagg.dp.mechanism as mechanism
import secagg.dp.skellam as skellam
from secagg import _core
from secagg.dp import DPConfig, make_dp_aggregator
from secagg.dp.skellam import sample_skellam
from secagg.errors import ConfigError, InputError, PrivacyError, SeedError
from secagg.protocol.config import NoisePlan
from secagg.protocol.stage import Stage

GRAPH = bytes([5]) * 32


def seeds(cid: int, rnd: int) -> bytes:
    return bytes([cid % 256, rnd % 256]) + bytes(30)


def _no_python_noise(*_args, **_kwargs):
    raise AssertionError("the Python Skellam sampler was called")


def _config() -> DPConfig:
    return DPConfig(clip_norm=1.0, clients_per_round=8, num_users=100, rounds=4, noise_multiplier=0.7)


def _updates(n: int, dim: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(11)
    return {i: rng.normal(size=dim) * (0.5 if i % 2 else 0.05) for i in range(n)}


@pytest.mark.parametrize("backend", ["secagg+", "secagg"])
def test_protocol_noise_is_native_and_matches_masked_bit_for_bit(backend: str, monkeypatch) -> None:
    ups = _updates(8, 700)
    cfg = _config()
    masked = make_dp_aggregator("masked", cfg, 700, session_seed=bytes(32), seed_source=seeds)
    plain = make_dp_aggregator("plain", cfg, 700, session_seed=bytes(32), seed_source=seeds)
    a, b = masked.aggregate(ups, round_index=1), plain.aggregate(ups, round_index=1)
    np.testing.assert_array_equal(a.total, b.total)

    calls = []
    kernel = _core.quantize_and_mask_skellam

    def spy(*args):
        calls.append(args[-2])  # the noise variance
        return kernel(*args)

    monkeypatch.setattr(_core, "quantize_and_mask_skellam", spy)
    monkeypatch.setattr(skellam, "sample_skellam", _no_python_noise)
    monkeypatch.setattr(mechanism, "sample_skellam", _no_python_noise)
    agg = make_dp_aggregator(backend, cfg, 700, session_seed=bytes(32), seed_source=seeds)
    assert agg._native_noise()
    res = agg.aggregate(ups, round_index=1)
    np.testing.assert_array_equal(res.total, a.total)
    assert len(calls) == 8 and all(v == agg.params.local_variance > 0 for v in calls)


def test_python_fallback_gives_the_same_sum(monkeypatch) -> None:
    ups = _updates(8, 300)
    cfg = _config()
    native = make_dp_aggregator("secagg+", cfg, 300, session_seed=bytes(32), seed_source=seeds)
    want = native.aggregate(ups, dropouts={2: Stage.MASKED_INPUT})
    monkeypatch.setattr(dp_aggregator, "MAX_NOISE_VARIANCE", 0.0)  # as for variances > 2**27
    fallback = make_dp_aggregator("secagg+", cfg, 300, session_seed=bytes(32), seed_source=seeds)
    assert not fallback._native_noise()
    got = fallback.aggregate(ups, dropouts={2: Stage.MASKED_INPUT})
    assert got.included == want.included == frozenset(range(8)) - {2}
    np.testing.assert_array_equal(got.total, want.total)


def _simulate(inputs, plans=None, **kw):
    return secagg.simulate(inputs, protocol="secagg+", graph_seed=GRAPH, noise_plans=plans,
                           rounding_seeds={c: bytes([c + 40]) * 32 for c in inputs}, **kw)


@pytest.mark.parametrize("kind", ["quantized", "float"])
def test_simulate_with_noise_plans_adds_exactly_the_planned_noise(kind: str) -> None:
    rng = np.random.default_rng(4)
    n, d, q, r = 6, 1500, 2**10 + 1, 2**16
    if kind == "quantized":
        inputs = {c: rng.integers(0, q, d).astype(np.uint32) for c in range(n)}
    else:
        inputs = {c: rng.uniform(-1, 1, d) for c in range(n)}
    plans = {c: NoisePlan(40.0 + c, bytes([c + 1]) * 32) for c in range(n) if c != 3}
    kw = dict(quantization_range=q, modulus_range=r, dropouts={4: Stage.MASKED_INPUT})
    base, noisy = _simulate(inputs, **kw), _simulate(inputs, plans, **kw)
    assert noisy.included == base.included == frozenset(range(n)) - {4}
    noise = sum(sample_skellam(plans[c].seed, d, plans[c].variance) for c in noisy.included if c in plans)
    expect = (base.quantized_sum.astype(np.int64) + noise) % r
    np.testing.assert_array_equal(noisy.quantized_sum.astype(np.int64), expect)
    assert noisy.bytes_sent == base.bytes_sent  # same messages on the wire


def test_bad_noise_plans() -> None:
    with pytest.raises(PrivacyError):
        NoisePlan(-1.0, bytes(32))
    with pytest.raises(PrivacyError):
        NoisePlan(2.0**28, bytes(32))
    with pytest.raises(PrivacyError):
        NoisePlan(float("nan"), bytes(32))
    with pytest.raises(SeedError):
        NoisePlan(1.0, b"short")
    inputs = {0: np.zeros(4, dtype=np.uint32), 1: np.ones(4, dtype=np.uint32)}
    with pytest.raises(InputError):
        _simulate(inputs, {7: NoisePlan(1.0, bytes(32))}, quantization_range=4)
    with pytest.raises(ConfigError):
        _simulate(inputs, {0: (1.0, bytes(32))}, quantization_range=4)
    with pytest.raises(ConfigError):
        _simulate(inputs, {0: NoisePlan(1.0, bytes(32))}, quantization_range=2**53,
                  modulus_range=2**56)
    with pytest.raises(ConfigError):
        secagg.protocol.client.SecAggClient(0, np.zeros(3), noise="not a plan")
