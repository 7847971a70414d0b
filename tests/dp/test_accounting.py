"""Accounting agrees with dp-accounting computed independently; calibration hits its target."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest

from secagg.dp import DPConfig, PrivacyLedger, RoundMechanism, epsilon_for, skellam_rdp
from secagg.dp.accounting import SKELLAM_ORDERS, poisson_subsampled_rdp


def gaussian_eps(z: float, q: float, rounds: int, delta: float) -> float:
    acc = dp_accounting.rdp.RdpAccountant()
    acc.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), rounds))
    return acc.get_epsilon(delta)


def test_gaussian_mode_equals_dp_accounting() -> None:
    mech = RoundMechanism(central_variance=(1.3 * 500.0) ** 2, l2_sensitivity=500.0,
                          l1_sensitivity=500.0**2, sampling_probability=0.05)
    ours = epsilon_for([(mech, 200)], 1e-5, "gaussian")
    assert ours == pytest.approx(gaussian_eps(1.3, 0.05, 200, 1e-5), rel=1e-9)


def test_ledger_gaussian_matches_dp_accounting_round_by_round() -> None:
    mech = RoundMechanism((2.0 * 100) ** 2, 100.0, 1e4, 0.1)
    ledger = PrivacyLedger(1e-6, "gaussian")
    for t in range(1, 6):
        eps = ledger.record_round(mech)
        assert eps == pytest.approx(gaussian_eps(2.0, 0.1, t, 1e-6), rel=1e-9)
    assert [h["round"] for h in ledger.history] == [1, 2, 3, 4, 5]


def test_skellam_rdp_closed_form() -> None:
    orders = np.array([2.0, 10.0, 64.0])
    mu, l2, l1 = 1e6, 900.0, 900.0**2
    expect = orders * l2**2 / (2 * mu) + np.minimum(((2 * orders - 1) * l2**2 + 6 * l1) / (4 * mu**2),
                                                   3 * l1 / (2 * mu))
    np.testing.assert_allclose(skellam_rdp(orders, mu, l2, l1), expect)


def test_skellam_without_sampling_matches_dp_accounting_rdp_conversion() -> None:
    mu, l2, l1 = (3.0 * 1000) ** 2, 1000.0, 1000.0**2
    mech = RoundMechanism(mu, l2, l1, 1.0)
    rdp = 7 * skellam_rdp(SKELLAM_ORDERS, mu, l2, l1)
    expect, _ = dp_accounting.rdp.compute_epsilon(SKELLAM_ORDERS, rdp, 1e-5)
    assert epsilon_for([(mech, 7)], 1e-5, "skellam") == pytest.approx(expect, rel=1e-12)
    # and the Skellam curve approaches the Gaussian one (mu >> Delta2): the paper's tightness
    gauss = 7 * dp_accounting.rdp.rdp_privacy_accountant._compute_rdp_poisson_subsampled_gaussian(
        1.0, 3.0, SKELLAM_ORDERS)
    assert np.all(rdp >= gauss) and np.all(rdp <= gauss * 1.01)


def test_subsampled_bound_reduces_to_gaussian_structure() -> None:
    # For the Gaussian, Zhu-Wang's bound is an upper bound on dp-accounting's exact value.
    z, q = 1.5, 0.02
    exact = dp_accounting.rdp.rdp_privacy_accountant._compute_rdp_poisson_subsampled_gaussian(
        q, z, [2, 8, 32])
    ours = poisson_subsampled_rdp([2, 8, 32], q, lambda a: np.asarray(a, float) / (2 * z * z))
    assert np.all(ours >= exact * (1 - 1e-9))
    assert np.all(ours <= np.asarray([2, 8, 32]) / (2 * z * z))  # never above the unsampled value


def test_skellam_epsilon_is_at_least_gaussian() -> None:
    mech = RoundMechanism((1.0 * 2000) ** 2, 2000.0, 2000.0**2, 0.05)
    sk = epsilon_for([(mech, 100)], 1e-5, "skellam")
    ga = epsilon_for([(mech, 100)], 1e-5, "gaussian")
    assert ga <= sk < 3 * ga


@pytest.mark.parametrize("accountant", ["gaussian", "skellam"])
def test_calibration_hits_target(accountant: str) -> None:
    cfg = DPConfig(clip_norm=0.5, clients_per_round=20, num_users=400, rounds=30, epsilon=3.0,
                   accountant=accountant)
    plan = cfg.plan(1000)
    assert plan.planned_epsilon <= 3.0
    assert plan.planned_epsilon == pytest.approx(3.0, rel=2e-3)
    # a noise multiplier given directly reports the epsilon it spends
    same = DPConfig(clip_norm=0.5, clients_per_round=20, num_users=400, rounds=30,
                    noise_multiplier=plan.noise_multiplier, accountant=accountant).plan(1000)
    assert same.planned_epsilon == pytest.approx(plan.planned_epsilon, rel=1e-9)
    if accountant == "gaussian":
        assert plan.planned_epsilon == pytest.approx(
            gaussian_eps(plan.noise_multiplier, 20 / 400, 30, 1 / 400 if 1 / 400 < 1e-5 else 1e-5),
            rel=1e-9)


def test_no_noise_is_infinite_epsilon() -> None:
    cfg = DPConfig(clip_norm=1.0, clients_per_round=5, num_users=50, rounds=3, epsilon=math.inf)
    plan = cfg.plan(64)
    assert plan.noise_multiplier == 0 and math.isinf(plan.planned_epsilon)
    ledger = PrivacyLedger(1e-5)
    assert math.isinf(ledger.record_round(cfg.round_mechanism(plan.params)))


def test_default_delta() -> None:
    assert DPConfig(clip_norm=1.0, clients_per_round=5, num_users=943, rounds=3,
                    noise_multiplier=1.0).target_delta == 1e-5
    assert DPConfig(clip_norm=1.0, clients_per_round=5, num_users=50, rounds=3,
                    noise_multiplier=1.0).target_delta == 1e-5
    assert DPConfig(clip_norm=1.0, clients_per_round=5, num_users=10**6, rounds=3,
                    noise_multiplier=1.0).target_delta == 1e-6
