"""A prior release composed into a DP plan, checked against dp-accounting's own composition."""

from __future__ import annotations

import math

import numpy as np
import pytest

dpa = pytest.importorskip("dp_accounting")

from secagg.dp import DPConfig  # noqa: E402
from secagg.dp.accounting import PLD_DISCRETIZATION, SKELLAM_ORDERS, skellam_rdp  # noqa: E402
from secagg.errors import PrivacyError  # noqa: E402

USERS, DIM = 943, 4096
PRIOR = (2.0e6, 1000.0, 30000.0)  # (central variance, l2, l1) of a one-round release: z = sqrt(2e6)/1000


def _cfg(**kw) -> DPConfig:
    base = dict(clip_norm=1.0, clients_per_round=50, num_users=USERS, rounds=20, noise_multiplier=1.0)
    return DPConfig(**{**base, **kw})


def test_gaussian_poisson_matches_dp_accounting_pld() -> None:
    cfg = _cfg(accountant="gaussian", prior_releases=(PRIOR,))
    params = cfg.parameters(DIM, 1.0)
    ours = cfg.epsilon_of(params)
    mech = cfg.round_mechanism(params)
    acc = dpa.pld.PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    acc.compose(dpa.PoissonSampledDpEvent(1.0, dpa.GaussianDpEvent(math.sqrt(PRIOR[0]) / PRIOR[1])))
    acc.compose(dpa.PoissonSampledDpEvent(cfg.sampling_probability, dpa.GaussianDpEvent(mech.noise_multiplier)),
                cfg.rounds)
    assert ours == pytest.approx(float(acc.get_epsilon(cfg.target_delta)), rel=1e-6)
    alone = _cfg(accountant="gaussian").epsilon_of(params)
    assert ours > alone


def test_skellam_is_the_rdp_sum_and_at_most_basic_composition() -> None:
    cfg = _cfg(prior_releases=(PRIOR,), clients_per_round=USERS)  # full participation: unsampled
    params = cfg.parameters(DIM, 1.0)
    ours = cfg.epsilon_of(params)
    mech = cfg.round_mechanism(params)
    rdp = skellam_rdp(SKELLAM_ORDERS, PRIOR[0], PRIOR[1], PRIOR[2]) + cfg.rounds * skellam_rdp(
        SKELLAM_ORDERS, mech.central_variance, mech.l2_sensitivity, mech.l1_sensitivity)
    expected, _ = dpa.rdp.compute_epsilon(SKELLAM_ORDERS, rdp, cfg.target_delta)
    assert ours == pytest.approx(expected, rel=1e-9)
    # every epsilon an upper bound: at least the Gaussian limit, at most the two epsilons added
    # (each at the same delta: basic composition would even need 2 delta)
    gauss = _cfg(clients_per_round=USERS, accountant="gaussian", prior_releases=(PRIOR,))
    assert ours >= gauss.epsilon_of(gauss.parameters(DIM, 1.0)) * (1 - 1e-6)
    prior_alone, _ = dpa.rdp.compute_epsilon(SKELLAM_ORDERS, skellam_rdp(SKELLAM_ORDERS, *PRIOR),
                                             cfg.target_delta)
    rounds_alone = _cfg(clients_per_round=USERS).epsilon_of(params)
    assert ours <= prior_alone + rounds_alone
    # unsampled: the server's view is the same composition
    assert cfg.server_epsilon_of(params) == pytest.approx(ours, rel=1e-9)


def test_calibration_leaves_room_for_the_prior() -> None:
    target = 8.0
    without = DPConfig(clip_norm=1.0, clients_per_round=USERS, num_users=USERS, rounds=5, epsilon=target).plan(DIM)
    with_prior = DPConfig(clip_norm=1.0, clients_per_round=USERS, num_users=USERS, rounds=5, epsilon=target,
                          prior_releases=(PRIOR,)).plan(DIM)
    assert with_prior.planned_epsilon <= target * (1 + 1e-9)
    assert with_prior.noise_multiplier > without.noise_multiplier
    assert with_prior.report()["prior_releases"] == [list(PRIOR)]
    assert with_prior.stored()["accounting"]["prior_releases"] == [list(PRIOR)]
    assert "prior_releases" not in without.stored()["accounting"]  # older stored plans still resume
    with pytest.raises(PrivacyError, match="differs"):
        with_prior.check_resumes(without.stored())


def test_a_prior_alone_over_budget_is_unreachable() -> None:
    loud = (1.0, 1000.0, 30000.0)  # almost no noise: epsilon far above 8 on its own
    with pytest.raises(PrivacyError, match="not reachable"):
        DPConfig(clip_norm=1.0, clients_per_round=USERS, num_users=USERS, rounds=5, epsilon=8.0,
                 prior_releases=(loud,)).plan(DIM)


@pytest.mark.parametrize("bad", [((1.0, 2.0),), ((0.0, 1.0, 1.0),), ((1.0, -1.0, 1.0),),
                                 ((math.inf, 1.0, 1.0),), ((math.nan, 1.0, 1.0),)])
def test_bad_prior_releases(bad) -> None:
    with pytest.raises(PrivacyError, match="prior release"):
        _cfg(prior_releases=bad)


def test_cyclic_sampling_refuses_a_prior() -> None:
    with pytest.raises(PrivacyError, match="cyclic"):
        _cfg(sampling="cyclic", prior_releases=(PRIOR,))


def test_fixed_sampling_charges_the_prior_as_replace_one() -> None:
    cfg = _cfg(sampling="fixed", prior_releases=(PRIOR,))
    params = cfg.parameters(DIM, 1.0)
    (prior,) = cfg.prior_mechanisms()
    assert prior.adjacency_factor == 2.0 and prior.amplification == 1.0
    assert cfg.epsilon_of(params) > _cfg(sampling="fixed").epsilon_of(params)
    assert np.isfinite(cfg.server_epsilon_of(params))
