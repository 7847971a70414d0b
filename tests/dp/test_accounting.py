"""Accounting agrees with dp-accounting computed independently; both views; calibration hits its target."""

from __future__ import annotations

import math

import dp_accounting as dpa
import numpy as np
import pytest
from dp_accounting.rdp import rdp_privacy_accountant as rdp_impl
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.dp import DPConfig, PrivacyLedger, RoundMechanism, epsilon_for, skellam_rdp
from secagg.dp.accounting import (
    PLD_DISCRETIZATION,
    SKELLAM_ORDERS,
    poisson_subsampled_rdp,
    server_epsilon_for,
    without_replacement_rdp,
)
from secagg.errors import PrivacyError

N, M = 1000, 50


def poisson(z: float, q: float, l2: float = 500.0) -> RoundMechanism:
    return RoundMechanism((z * l2) ** 2, l2, l2 * l2, q)


def fixed(z: float, n: int = N, m: int = M, l2: float = 500.0) -> RoundMechanism:
    return RoundMechanism((z * l2) ** 2, l2, l2 * l2, m / n, sampling="fixed", population=n, sample_size=m)


def pld_poisson_eps(z: float, q: float, rounds: int, delta: float) -> float:
    acc = dpa.pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    acc.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(z)), rounds)
    return acc.get_epsilon(delta)


def replace_one_eps(z: float, n: int, m: int, rounds: int, delta: float) -> float:
    """dp-accounting directly: m of n without replacement, replace-one (the sum moves by 2 Delta)."""
    acc = dpa.rdp.RdpAccountant(neighboring_relation=dpa.NeighboringRelation.REPLACE_ONE)
    acc.compose(dpa.SampledWithoutReplacementDpEvent(n, m, dpa.GaussianDpEvent(z / 2)), rounds)
    return acc.get_epsilon(delta)


def test_gaussian_poisson_is_dp_accountings_pld() -> None:
    ours = epsilon_for([(poisson(1.3, 0.05), 200)], 1e-5, "gaussian")
    assert ours == pytest.approx(pld_poisson_eps(1.3, 0.05, 200, 1e-5), rel=1e-9)
    # PLD is tighter than the RDP accountant's bound for the same mechanism
    rdp = dpa.rdp.RdpAccountant()
    rdp.compose(dpa.PoissonSampledDpEvent(0.05, dpa.GaussianDpEvent(1.3)), 200)
    assert ours < rdp.get_epsilon(1e-5)


def test_gaussian_fixed_size_is_dp_accountings_replace_one() -> None:
    ours = epsilon_for([(fixed(1.5), 40)], 1e-5, "gaussian")
    assert ours == pytest.approx(replace_one_eps(1.5, N, M, 40, 1e-5), rel=1e-3)
    assert ours >= replace_one_eps(1.5, N, M, 40, 1e-5) * (1 - 1e-9)
    # the same noise under the honest analysis costs far more than the Poisson claim did
    assert ours > 3 * epsilon_for([(poisson(1.5, M / N), 40)], 1e-5, "gaussian")


def test_ledger_gaussian_matches_dp_accounting_round_by_round() -> None:
    ledger = PrivacyLedger(1e-6, "gaussian")
    for t in range(1, 5):
        eps = ledger.record_round(poisson(2.0, 0.1, 100.0), participants=[1, 2, 3])
        assert eps == pytest.approx(pld_poisson_eps(2.0, 0.1, t, 1e-6), rel=1e-9)
    assert [h["round"] for h in ledger.history] == [1, 2, 3, 4]


def test_server_view_composes_the_unsampled_mechanism_over_the_busiest_clients_rounds() -> None:
    ledger = PrivacyLedger(1e-5, "gaussian")
    ledger.record_round(poisson(2.0, 0.05), participants=[1, 2])
    ledger.record_round(poisson(2.0, 0.05), participants=[2, 3])
    ledger.record_round(poisson(1.0, 0.05), participants=[3, 4])  # fewer noise shares arrived
    assert ledger.max_participation == 2
    # the worst two rounds: noise multipliers 1.0 and 2.0; Gaussians compose to 1/z^2 = 1 + 1/4
    z = (1.0 + 0.25) ** -0.5
    acc = dpa.pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    acc.compose(dpa.GaussianDpEvent(z))
    assert ledger.epsilon_server() == pytest.approx(acc.get_epsilon(1e-5), rel=1e-3)
    assert ledger.epsilon_server() > ledger.epsilon_release()
    # unknown participants: the data-independent bound (every round)
    blind = PrivacyLedger(1e-5, "gaussian")
    for m in (poisson(2.0, 0.05), poisson(2.0, 0.05), poisson(1.0, 0.05)):
        blind.record_round(m)
    assert blind.max_participation == 3 and blind.epsilon_server() > ledger.epsilon_server()


@pytest.mark.parametrize("z", [0.1, 0.7, 3.0, 30.0])
def test_analytic_gaussian_epsilon_is_the_smallest_valid_one(z: float) -> None:
    from dp_accounting.pld.privacy_loss_mechanism import GaussianPrivacyLoss

    from secagg.dp.accounting import gaussian_epsilon

    eps = gaussian_epsilon(z, 1e-6)
    loss = GaussianPrivacyLoss(z)
    assert loss.get_delta_for_epsilon(eps) <= 1e-6 < loss.get_delta_for_epsilon(eps * (1 - 1e-6)) or eps == 0.0


def test_server_view_of_fixed_size_rounds_doubles_the_sensitivity() -> None:
    ours = server_epsilon_for([fixed(3.0)] * 4, 4, 1e-5, "gaussian")
    acc = dpa.pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    acc.compose(dpa.GaussianDpEvent(1.5), 4)
    # exact composition (one Gaussian, analytic curve) vs dp-accounting's pessimistic PLD
    assert ours == pytest.approx(acc.get_epsilon(1e-5), rel=1e-3) and ours <= acc.get_epsilon(1e-5)


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
    expect, _ = dpa.rdp.compute_epsilon(SKELLAM_ORDERS, rdp, 1e-5)
    assert epsilon_for([(mech, 7)], 1e-5, "skellam") == pytest.approx(expect, rel=1e-12)
    gauss = 7 * rdp_impl._compute_rdp_poisson_subsampled_gaussian(1.0, 3.0, SKELLAM_ORDERS)
    assert np.all(rdp >= gauss) and np.all(rdp <= gauss * 1.01)


def test_poisson_bound_is_above_dp_accountings_exact_gaussian_value() -> None:
    z, q = 1.5, 0.02
    exact = rdp_impl._compute_rdp_poisson_subsampled_gaussian(q, z, [2, 8, 32])
    ours = poisson_subsampled_rdp([2, 8, 32], q, lambda a: np.asarray(a, float) / (2 * z * z))
    assert np.all(ours >= exact * (1 - 1e-9))
    assert np.all(ours <= np.asarray([2, 8, 32]) / (2 * z * z))  # never above the unsampled value


@pytest.mark.parametrize("order", [2, 3, 7, 40, 300, 1024])
def test_without_replacement_bound_matches_dp_accounting_for_the_gaussian(order: int) -> None:
    # dp-accounting's general (Thm. 9) branch for orders > 256, its Thm. 27 refinement below:
    # ours is the general bound, so equal above 256 and never below at any order
    z, q = 1.2, 0.05
    exact = rdp_impl._compute_rdp_sample_wor_gaussian(q, z, [order])[0]
    ours = without_replacement_rdp([order], q, lambda a: np.asarray(a, float) / (2 * z * z))[0]
    assert ours >= exact * (1 - 1e-12)
    if order > 256:
        assert ours == pytest.approx(min(exact, order / (2 * z * z)), rel=1e-9)


@pytest.mark.parametrize("mech", [poisson(1.0, 0.05, 2000.0), fixed(2.0, l2=2000.0)],
                         ids=["poisson", "fixed"])
def test_skellam_is_at_least_its_gaussian_limit(mech: RoundMechanism) -> None:
    sk = epsilon_for([(mech, 100)], 1e-5, "skellam")
    ga = epsilon_for([(mech, 100)], 1e-5, "gaussian")
    assert ga * (1 - 1e-6) <= sk < 1.6 * ga
    assert server_epsilon_for([mech] * 10, 10, 1e-5, "skellam") >= \
        server_epsilon_for([mech] * 10, 10, 1e-5, "gaussian") * (1 - 1e-6)


def test_skellam_in_the_gaussian_limit_approaches_dp_accountings_rdp() -> None:
    """Large mu: the Skellam terms vanish; the RDP values are dp-accounting's RDP accountant's own
    numbers up to the subsampling theorem (Zhu-Wang's general bound vs. the exact Gaussian one)."""
    z, q, rounds = 1.0, 0.05, 100
    mech = poisson(z, q, 1e5)
    acc = dpa.rdp.RdpAccountant()
    acc.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(z)), rounds)
    sk = epsilon_for([(mech, rounds)], 1e-5, "skellam")
    assert acc.get_epsilon(1e-5) * (1 - 1e-6) <= sk <= 1.3 * acc.get_epsilon(1e-5)
    m = fixed(z, l2=1e5)
    sk_fixed = epsilon_for([(m, rounds)], 1e-5, "skellam")
    assert replace_one_eps(z, N, M, rounds, 1e-5) * (1 - 1e-6) <= sk_fixed <= \
        1.05 * replace_one_eps(z, N, M, rounds, 1e-5)


@settings(max_examples=20, deadline=None)
@given(z=st.floats(0.5, 4.0), q=st.floats(0.005, 0.3), rounds=st.integers(1, 60),
       mode=st.sampled_from(["skellam", "gaussian"]))
def test_monotone_in_rounds_noise_and_rate(z: float, q: float, rounds: int, mode: str) -> None:
    base = epsilon_for([(poisson(z, q), rounds)], 1e-5, mode)
    assert epsilon_for([(poisson(z, q), rounds + 1)], 1e-5, mode) >= base * (1 - 1e-9)
    assert epsilon_for([(poisson(z * 1.1, q), rounds)], 1e-5, mode) <= base * (1 + 1e-9)
    assert epsilon_for([(poisson(z, min(1.0, q * 1.5)), rounds)], 1e-5, mode) >= base * (1 - 1e-9)
    assert server_epsilon_for([poisson(z, q)] * rounds, rounds, 1e-5, mode) >= base * (1 - 1e-9)


def test_one_ledger_cannot_mix_samplings() -> None:
    ledger = PrivacyLedger(1e-5)
    ledger.record_round(poisson(1.0, 0.05))
    with pytest.raises(PrivacyError, match="fixed round cannot join"):
        ledger.record_round(fixed(1.0))
    with pytest.raises(PrivacyError, match="cannot analyse sampling 'shuffle'"):
        RoundMechanism(1.0, 1.0, 1.0, 0.1, sampling="shuffle")


@pytest.mark.parametrize("accountant", ["gaussian", "skellam"])
@pytest.mark.parametrize("sampling", ["poisson", "fixed"])
def test_calibration_hits_target(accountant: str, sampling: str) -> None:
    kw = dict(clip_norm=0.5, clients_per_round=20, num_users=400, rounds=30, accountant=accountant,
              sampling=sampling)
    plan = DPConfig(epsilon=3.0, **kw).plan(1000)
    assert plan.planned_epsilon <= 3.0
    assert plan.planned_epsilon == pytest.approx(3.0, rel=2e-3)
    same = DPConfig(noise_multiplier=plan.noise_multiplier, **kw).plan(1000)
    assert same.planned_epsilon == pytest.approx(plan.planned_epsilon, rel=1e-9)
    assert plan.planned_epsilon_server > plan.planned_epsilon
    if accountant == "gaussian" and sampling == "poisson":
        assert plan.planned_epsilon == pytest.approx(
            pld_poisson_eps(plan.noise_multiplier, 20 / 400, 30, 1e-5), rel=1e-9)


def test_no_noise_is_infinite_epsilon() -> None:
    cfg = DPConfig(clip_norm=1.0, clients_per_round=5, num_users=50, rounds=3, epsilon=math.inf)
    plan = cfg.plan(64)
    assert plan.noise_multiplier == 0 and math.isinf(plan.planned_epsilon)
    ledger = PrivacyLedger(1e-5)
    assert math.isinf(ledger.record_round(cfg.round_mechanism(plan.params)))
    assert math.isinf(ledger.epsilon_server())


def test_default_delta() -> None:
    assert DPConfig(clip_norm=1.0, clients_per_round=5, num_users=943, rounds=3,
                    noise_multiplier=1.0).target_delta == 1e-5
    assert DPConfig(clip_norm=1.0, clients_per_round=5, num_users=50, rounds=3,
                    noise_multiplier=1.0).target_delta == 1e-5
    assert DPConfig(clip_norm=1.0, clients_per_round=5, num_users=10**6, rounds=3,
                    noise_multiplier=1.0).target_delta == 1e-6


def cyclic(z: float, n: int = N, m: int = M, l2: float = 500.0) -> RoundMechanism:
    return RoundMechanism((z * l2) ** 2, l2, l2 * l2, m / n, sampling="cyclic", population=n, sample_size=m)


@pytest.mark.parametrize("rounds", [1, 20, 21, 45])
def test_cyclic_composes_the_unsampled_mechanism_over_epochs(rounds: int) -> None:
    epochs = -(-rounds // (N // M))  # 20 blocks per epoch
    acc = dpa.pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    acc.compose(dpa.GaussianDpEvent(2.0), epochs)
    pld = acc.get_epsilon(1e-5)
    ours = epsilon_for([(cyclic(2.0), rounds)], 1e-5, "gaussian")
    assert ours == pytest.approx(pld, rel=1e-3) and ours <= pld
    ledger = PrivacyLedger(1e-5, "gaussian")
    for r in range(rounds):  # block r % 20 of a 1000-user population, 50 each
        block = r % 20
        ledger.record_round(cyclic(2.0), participants=range(block * 50, block * 50 + 50))
    assert ledger.max_participation == epochs
    assert ledger.epsilon_release() == ledger.epsilon_server() == pytest.approx(ours, rel=1e-12)


@pytest.mark.parametrize("accountant", ["gaussian", "skellam"])
def test_cyclic_plan_holds_against_the_server(accountant: str) -> None:
    cfg = DPConfig(clip_norm=1.0, clients_per_round=50, num_users=943, rounds=50, epsilon=8.0,
                   accountant=accountant, sampling="cyclic")
    plan = cfg.plan(1000)
    assert cfg.cyclic_blocks == 18 and cfg.cohort_cap == 53
    assert plan.planned_epsilon <= 8.0 and plan.planned_epsilon == pytest.approx(8.0, rel=2e-3)
    assert plan.planned_epsilon_server == pytest.approx(plan.planned_epsilon, rel=1e-12)
    poisson_plan = DPConfig(clip_norm=1.0, clients_per_round=50, num_users=943, rounds=50, epsilon=8.0,
                            accountant=accountant).plan(1000)
    assert poisson_plan.planned_epsilon_server > 5 * plan.planned_epsilon_server
