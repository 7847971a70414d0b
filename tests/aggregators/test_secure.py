"""The secagg / secagg+ aggregators and the simulator's accounting."""

from __future__ import annotations

import numpy as np
import pytest

import secagg
from secagg import Stage, create_aggregator
from secagg.aggregators.secure import SecAggAggregator, SecAggPlusAggregator
from secagg.errors import ConfigError, InputError


def test_registry_builds_the_protocol_aggregators():
    assert isinstance(create_aggregator("secagg"), SecAggAggregator)
    assert isinstance(create_aggregator("secagg+", clipping_range=0.5), SecAggPlusAggregator)


@pytest.mark.parametrize("bad", [dict(threat_model="paranoid"), dict(corrupt_fraction=1.0),
                                 dict(dropout_fraction=-0.1), dict(modulus_range=1000),
                                 dict(clipping_range=0.0), dict(quantization_range=1),
                                 dict(num_neighbors=0), dict(threshold=2.5)])
def test_options_are_validated_eagerly(bad):
    with pytest.raises(ConfigError):
        create_aggregator("secagg+", **bad)


@pytest.mark.parametrize("name", ["secagg", "secagg+"])
def test_active_model_with_dropouts(name):
    rng = np.random.default_rng(0)
    ups = {c: rng.uniform(-1, 1, 40) for c in range(12)}
    agg = create_aggregator(name, threat_model="active", quantization_range=2**10,
                            dropout_fraction=0.2)
    res = agg.aggregate(ups, dropouts={0: Stage.MASKED_INPUT, 1: Stage.CONSISTENCY_CHECK})
    assert 0 not in res.included and 1 in res.included
    exact = np.sum([ups[c] for c in res.included], axis=0)
    assert np.max(np.abs(res.total - exact)) <= agg.error_bound(len(res.included))
    assert set(res.seconds) == {"client", "server", "worker_cpu"}
    assert set(res.bytes_sent[2]) == {s.name for s in Stage}
    assert res.bytes_sent[2]["CONSISTENCY_CHECK"] > 0


def test_masked_input_costs_the_modulus_bit_width():
    d, n, q = 4000, 20, 2**16
    ups = {c: np.zeros(d) for c in range(n)}
    res = secagg.simulate(ups, protocol="secagg+", quantization_range=q)
    bits = res.config.bits
    assert res.config.modulus_range == 2**bits and 2**(bits - 1) <= n * (q - 1) < 2**bits
    upload = res.bytes_sent[0]["MASKED_INPUT"]
    assert d * bits // 8 <= upload <= d * bits // 8 + 100
    assert res.bytes_received[0]["ADVERTISE_KEYS"] > 0


def test_simulator_input_validation():
    with pytest.raises(InputError):
        secagg.simulate({0: np.zeros(3)})
    with pytest.raises(InputError):
        secagg.simulate({0: np.zeros(3), 1: np.zeros(3)}, dropouts={5: Stage.UNMASKING})
    with pytest.raises(ConfigError):
        secagg.simulate({0: np.zeros(3), 1: np.zeros(3)}, protocol="secagg++")
    with pytest.raises(ConfigError):
        secagg.simulate({0: np.zeros(3), 1: np.zeros(3)}, quantization_range=2**8, modulus_range=2**8)
