"""Bad DP input is refused with PrivacyError before any training starts."""

from __future__ import annotations

import math

import pytest

from secagg.dp import DPConfig, derive_parameters
from secagg.errors import ConfigError, PrivacyError

BASE = dict(clip_norm=1.0, clients_per_round=10, num_users=100, rounds=5)


@pytest.mark.parametrize("change", [
    dict(epsilon=0.0), dict(epsilon=-1.0), dict(epsilon=math.nan),
    dict(epsilon=1.0, delta=0.0), dict(epsilon=1.0, delta=1.0), dict(epsilon=1.0, delta=-0.1),
    dict(epsilon=1.0, delta=2.0),
    dict(epsilon=1.0, clip_norm=0.0), dict(epsilon=1.0, clip_norm=-2.0),
    dict(epsilon=1.0, clip_norm=math.inf),
    dict(noise_multiplier=-1.0), dict(noise_multiplier=math.inf),
    dict(), dict(epsilon=1.0, noise_multiplier=1.0),
    dict(epsilon=1.0, bits=1), dict(epsilon=1.0, bits=65), dict(epsilon=1.0, bits=16.0),
    dict(epsilon=1.0, clients_per_round=0), dict(epsilon=1.0, clients_per_round=101),
    dict(epsilon=1.0, min_clients=11), dict(epsilon=1.0, rounds=0),
    dict(epsilon=1.0, accountant="pld?"),
])
def test_bad_config_raises(change: dict) -> None:
    kwargs = {**BASE, **change}
    with pytest.raises(PrivacyError):
        DPConfig(**kwargs)


def test_privacy_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        DPConfig(**BASE, epsilon=-1.0)


def test_bits_too_small_for_the_noisy_sum() -> None:
    with pytest.raises(PrivacyError, match="use bits >="):
        derive_parameters(dim=20000, clip_norm=1.0, noise_multiplier=5.0, clients_per_round=50,
                          bits=12)
    cfg = DPConfig(**BASE, noise_multiplier=50.0, bits=10)
    with pytest.raises(PrivacyError):
        cfg.plan(5000)


def test_unreachable_epsilon() -> None:
    cfg = DPConfig(clip_norm=1.0, clients_per_round=100, num_users=100, rounds=10**6, epsilon=1e-4,
                   accountant="gaussian")
    with pytest.raises(PrivacyError):
        cfg.plan(10)


def test_parameters_hold_the_sum_within_the_modulus() -> None:
    p = derive_parameters(dim=5000, clip_norm=2.0, noise_multiplier=1.0, clients_per_round=30,
                          bits=20)
    assert p.wrap_bound <= 2 ** 19 - 1
    assert p.central_variance == pytest.approx((p.noise_multiplier * p.l2_sensitivity) ** 2)
    assert p.local_variance == pytest.approx(p.central_variance / 30)
    assert p.offset >= p.l2_sensitivity
    report = p.report()
    for key in ("scale", "modulus_bits", "local_variance", "wrap_probability", "noise_std"):
        assert key in report
    # more bits never lowers the scale; fewer clients never lowers it either
    p32 = derive_parameters(dim=5000, clip_norm=2.0, noise_multiplier=1.0, clients_per_round=30, bits=32)
    assert p32.scale >= p.scale
