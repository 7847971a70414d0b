"""The DP popularity prior: scores, head items, the trainer's fallback and its composed accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dp_accounting")

from secagg.dp import DPConfig  # noqa: E402
from secagg.errors import CheckpointError, ConfigError, PrivacyError  # noqa: E402
from secagg.rec.client import LocalConfig  # noqa: E402
from secagg.rec.evaluation import make_eval_set  # noqa: E402
from secagg.rec.prior import (  # noqa: E402
    PriorConfig,
    from_counts,
    head_coordinates,
    head_items,
    prior_scores,
    release_mechanism,
)
from secagg.rec.train import FederatedConfig, FederatedTrainer  # noqa: E402


def test_prior_scores_are_log_counts_in_unit_range() -> None:
    s = prior_scores(np.array([-3.0, 0.0, 1.0, 15.0]))
    assert s[0] == 0.0 and s[1] == 0.0 and s[3] == 1.0
    assert s[2] == pytest.approx(math.log(2) / math.log(16))
    assert np.all(prior_scores(np.array([-1.0, -2.0])) == 0.0)


def test_head_items_are_the_largest_counts_with_seeded_ties() -> None:
    counts = np.array([5.0, 1.0, 9.0, 5.0, 0.0, 5.0])
    assert head_items(counts, 1, seed=0).tolist() == [2]
    two = [head_items(counts, 2, seed=s).tolist() for s in range(20)]
    assert all(2 in h and (set(h) - {2}) <= {0, 3, 5} for h in two)
    assert len({tuple(h) for h in two}) > 1  # the tie among 0, 3, 5 is broken by the seed
    assert head_items(counts, 2, seed=7).tolist() == head_items(counts, 2, seed=7).tolist()
    with pytest.raises(ConfigError):
        head_items(counts, 7, seed=0)


def test_head_coordinates_index_rows_and_biases() -> None:
    coords = head_coordinates(np.array([1, 3]), n_items=4, factors=2)
    assert coords.tolist() == [2, 3, 6, 7, 8 + 1, 8 + 3]


@pytest.mark.parametrize("kwargs, error", [
    ({"epsilon": 0.0}, PrivacyError), ({"epsilon": -1.0}, PrivacyError), ({"epsilon": math.nan}, PrivacyError),
    ({"epsilon": 1.0, "weight": -0.1}, ConfigError), ({"epsilon": 1.0, "cap": 0}, ConfigError),
    ({"epsilon": 1.0, "head_items": -1}, ConfigError), ({"epsilon": 1.0, "head_items": 2.5}, ConfigError),
])
def test_bad_prior_settings(kwargs, error) -> None:
    with pytest.raises(error):
        PriorConfig(**kwargs)


def _config(split, *, prior=None, dp=None, rounds=2, per_round=None, **kw) -> FederatedConfig:
    users = int((split.train.counts() > 0).sum())
    return FederatedConfig(factors=4, rounds=rounds, clients_per_round=per_round or users,
                           local=LocalConfig(epochs=1, clip_norm=1.0), eval_every=0, prior=prior, dp=dp, **kw)


def test_tail_items_fall_back_to_the_prior(small_split) -> None:
    """With head items, tail rows stay 0 and are ranked by the prior; only head entries move."""
    prior = PriorConfig(epsilon=math.inf, weight=2.0, head_items=10)
    trainer = FederatedTrainer(small_split, _config(small_split, prior=prior, server_lr=1.0))
    trainer.fit()
    model = trainer.server.model
    counts = small_split.train.item_counts()
    assert np.array_equal(trainer.prior.counts, counts)  # epsilon = inf: exact counts
    head = trainer.prior.head
    assert head.tolist() == head_items(counts, 10, seed=0).tolist()
    tail = np.setdiff1d(np.arange(small_split.n_items), head)
    assert np.all(model.factors[tail] == 0) and np.all(model.biases[tail] == 0)
    assert np.any(model.factors[head] != 0)
    assert trainer.update_size == 10 * 5
    np.testing.assert_allclose(trainer.prior.scores, 2.0 * prior_scores(counts))
    client = trainer.clients[int(trainer.client_ids[0])]
    scores = client.recommend_scores(model, trainer.prior.scores)
    np.testing.assert_allclose(scores[tail], trainer.prior.scores[tail])


def test_a_dominant_prior_ranks_like_popularity(small_split) -> None:
    """A huge weight makes the model's top items the most popular ones (deterministic, tiny data)."""
    prior = PriorConfig(epsilon=math.inf, weight=1e6)
    eval_set = make_eval_set(small_split, n_negatives=20)
    trainer = FederatedTrainer(small_split, _config(small_split, prior=prior, rounds=1), eval_set=eval_set)
    trainer.fit()
    from secagg.rec.baseline import Popularity
    from secagg.rec.evaluation import evaluate

    pop = evaluate(Popularity().fit(small_split.train).scores, eval_set)
    ours = trainer.evaluate()
    assert ours["hr@10"] == pytest.approx(pop["hr@10"], abs=0.05)


def _dp_with_prior(split, prior: PriorConfig, **kw) -> DPConfig:
    users = int((split.train.counts() > 0).sum())
    base = DPConfig(clip_norm=1.0, clients_per_round=users, num_users=users, rounds=2, epsilon=8.0, **kw)
    release = release_mechanism(prior, num_users=users, n_items=split.n_items, delta=base.target_delta,
                                accountant=base.accountant)
    return DPConfig(clip_norm=1.0, clients_per_round=users, num_users=users, rounds=2, epsilon=8.0,
                    prior_releases=(release,), **kw)


def test_dp_run_charges_the_prior_and_stays_within_epsilon(small_split, tmp_path) -> None:
    prior = PriorConfig(epsilon=2.0, weight=1.0, head_items=20)
    dp = _dp_with_prior(small_split, prior)
    trainer = FederatedTrainer(small_split, _config(small_split, prior=prior, dp=dp))
    trainer.fit()
    ledger = trainer.ledger
    assert ledger.rounds == 3  # the prior's release and two rounds
    assert ledger.history[0]["round"] == -1
    assert ledger.epsilon_release() <= 8.0 * (1 + 1e-9)
    # full participation: no amplification, both views are the unsampled composition
    assert ledger.epsilon_server() == pytest.approx(ledger.epsilon_release(), rel=1e-9)
    assert ledger.max_participation == 3
    # resume: the released counts are restored, not released again, and the accounting matches
    arrays, meta = trainer.state()
    again = FederatedTrainer(small_split, _config(small_split, prior=prior, dp=dp))
    again.load_state(arrays, meta)
    assert np.array_equal(again.prior.counts, trainer.prior.counts)
    assert again.ledger.epsilon_release() == pytest.approx(ledger.epsilon_release(), rel=1e-12)
    with pytest.raises(CheckpointError):
        again.load_state(arrays, meta)


def test_dp_plan_must_compose_this_prior(small_split) -> None:
    prior = PriorConfig(epsilon=2.0)
    users = int((small_split.train.counts() > 0).sum())
    plain = DPConfig(clip_norm=1.0, clients_per_round=users, num_users=users, rounds=2, epsilon=8.0)
    with pytest.raises(PrivacyError, match="prior"):
        _config(small_split, prior=prior, dp=plain)
    other = _dp_with_prior(small_split, PriorConfig(epsilon=3.0))
    with pytest.raises(PrivacyError, match="prior release"):
        FederatedTrainer(small_split, _config(small_split, prior=prior, dp=other))
    with pytest.raises(PrivacyError, match="finite"):
        _config(small_split, prior=PriorConfig(epsilon=math.inf), dp=other)


def test_restored_counts_give_the_same_head(small_split) -> None:
    counts = np.arange(small_split.n_items, dtype=np.float64)
    a = from_counts(PriorConfig(epsilon=1.0, head_items=5), counts, seed=3)
    assert a.head.tolist() == list(range(small_split.n_items - 5, small_split.n_items))
