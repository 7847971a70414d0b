"""The federated recommender trains with he-bfv on synthetic data, like it does with plain."""

from __future__ import annotations

import numpy as np
import pytest

rec = pytest.importorskip("secagg.rec.train")

from secagg.rec.evaluation import make_eval_set  # noqa: E402
from secagg.rec.split import leave_one_out  # noqa: E402
from secagg.rec.synthetic import make_synthetic  # noqa: E402


def train(aggregator: str):
    data = make_synthetic(n_users=120, n_items=80, factors=4, mean_interactions=15, seed=3)
    split = leave_one_out(data)
    config = rec.FederatedConfig(factors=8, rounds=6, clients_per_round=20, aggregator=aggregator,
                                 server_lr=20.0, dropout=0.1, eval_every=6, seed=4)
    trainer = rec.FederatedTrainer(split, config,
                                   eval_set=make_eval_set(split, n_negatives=30, seed=1))
    initial = trainer.server.model.factors.copy()
    return trainer, initial, trainer.fit()


def test_recommender_trains_with_he_bfv():
    he, initial, he_history = train("he-bfv")
    plain, _, plain_history = train("plain")
    assert he.aggregator.name == "he-bfv"
    assert not any(r["aborted"] for r in he_history)
    assert [r["included"] for r in he_history] == [r["included"] for r in plain_history]
    assert all(r["bytes_sent"] > 0 for r in he_history)
    # the same rounds with exact sums up to quantization: the model follows the plain one closely
    drift = np.max(np.abs(he.server.model.factors - plain.server.model.factors))
    moved = np.max(np.abs(he.server.model.factors - initial))
    assert drift < 0.05 * moved, (drift, moved)
    he_ndcg = he_history[-1]["metrics"]["ndcg@10"]
    plain_ndcg = plain_history[-1]["metrics"]["ndcg@10"]
    assert abs(he_ndcg - plain_ndcg) < 0.05
