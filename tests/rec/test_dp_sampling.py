"""The samplers a DP plan builds: exact Poisson and cyclic participation, in the trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dp_accounting")

from secagg.dp import DPConfig  # noqa: E402
from secagg.errors import PrivacyError  # noqa: E402
from secagg.rec.client import LocalConfig  # noqa: E402
from secagg.rec.sampling import ClientSampler  # noqa: E402
from secagg.rec.train import FederatedConfig, FederatedTrainer  # noqa: E402


def test_cyclic_sampler_takes_each_client_once_per_epoch():
    population = np.arange(100, 203)  # 103 clients, blocks of 10: 10 blocks of 10 or 11
    s = ClientSampler(population, per_round=10, cyclic_seed=7)
    rng = np.random.default_rng(0)
    for epoch in range(3):
        blocks = [s.sample(rng, epoch * 10 + b) for b in range(10)]
        assert sorted(np.concatenate(blocks).tolist()) == population.tolist()
        assert {len(b) for b in blocks} <= {10, 11}
    assert not np.array_equal(s.sample(rng, 0), s.sample(rng, 10))  # re-permuted per epoch
    assert np.array_equal(s.sample(rng, 3), ClientSampler(population, per_round=10, cyclic_seed=7).sample(
        np.random.default_rng(99), 3))  # a function of (seed, round) only: checkpoints need no state


def test_exact_poisson_may_be_empty_and_varies():
    s = ClientSampler(np.arange(30), rate=0.02, exact_poisson=True)
    rng = np.random.default_rng(1)
    sizes = [len(s.sample(rng)) for _ in range(300)]
    assert 0 in sizes and len(set(sizes)) > 2


def test_cyclic_training_needs_no_amplification(small_split):
    users = int((small_split.train.counts() > 0).sum())
    rounds = 5
    dp = DPConfig(clip_norm=1.0, clients_per_round=users // 2, num_users=users, rounds=rounds,
                  noise_multiplier=2.0, sampling="cyclic", accountant="gaussian")
    cfg = FederatedConfig(factors=4, rounds=rounds, clients_per_round=users // 2,
                          local=LocalConfig(epochs=1, clip_norm=1.0), eval_every=0, dp=dp)
    trainer = FederatedTrainer(small_split, cfg)
    trainer.fit()
    assert trainer.ledger.max_participation == math.ceil(rounds / 2)
    assert trainer.ledger.epsilon_release() == trainer.ledger.epsilon_server()
    assert trainer.ledger.epsilon_release() == pytest.approx(dp.plan(trainer.server.model.size).planned_epsilon,
                                                             rel=1e-9)
    with pytest.raises(PrivacyError, match="accountant analyses"):
        FederatedTrainer(small_split, cfg, sampler=ClientSampler(trainer.client_ids, per_round=users // 2))


def test_the_networked_server_refuses_cyclic_participation():
    pytest.importorskip("grpc")
    from secagg.net.settings import ServerSettings

    dp = DPConfig(clip_norm=1.0, clients_per_round=6, num_users=60, rounds=3, noise_multiplier=1.0,
                  sampling="cyclic")
    with pytest.raises(PrivacyError, match="cyclic"):
        ServerSettings(n_items=20, factors=3, clients_per_round=6, min_clients=6,
                       training=LocalConfig(clip_norm=1.0), dp=dp)


def test_a_poisson_draw_too_small_for_secure_aggregation_aborts_the_round(small_split):
    users = int((small_split.train.counts() > 0).sum())
    dp = DPConfig(clip_norm=1.0, clients_per_round=1, num_users=users, rounds=6, noise_multiplier=1.0)
    cfg = FederatedConfig(factors=4, rounds=6, clients_per_round=1, aggregator="secagg",
                          local=LocalConfig(epochs=1, clip_norm=1.0), eval_every=0, dp=dp)
    trainer = FederatedTrainer(small_split, cfg)
    trainer.fit()  # expected cohort of one: most rounds draw 0 or 1 clients
    small = [r for r in trainer.history if r["sampled"] < 2]
    assert small and all(r["aborted"] and "needs 2" in r["abort_reason"] for r in small)
    charged = [r for r in trainer.history if not r["aborted"]]
    assert trainer.ledger.rounds == len(charged)
