"""HR@10 / NDCG@10, full ranking and sampled: hand-computed cases and an independent implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.rec import metrics
from secagg.rec.data import UserItems


def test_hand_computed_full_ranking():
    # Items 0..5. Target 2 scores 0.5; items 3 (0.9) and 4 (0.7) beat it, but 3 is a training item.
    scores = np.array([[0.1, 0.2, 0.5, 0.9, 0.7, 0.3]])
    ranks = metrics.target_ranks(scores, np.array([2]), [np.array([3])])
    assert ranks.tolist() == [1]
    hit, ndcg = metrics.full_ranking(scores, np.array([2]), [np.array([3])], k=10)
    assert hit.tolist() == [1.0] and ndcg[0] == pytest.approx(1 / math.log2(3))
    hit, ndcg = metrics.full_ranking(scores, np.array([2]), [np.array([3])], k=1)
    assert hit.tolist() == [0.0] and ndcg.tolist() == [0.0]
    # Without excluding the training item the target drops to rank 2.
    assert metrics.target_ranks(scores, np.array([2]), None).tolist() == [2]


def test_ties_are_pessimistic():
    scores = np.zeros((1, 20))
    ranks = metrics.target_ranks(scores, np.array([0]), None)
    assert ranks.tolist() == [19]
    hit, _ = metrics.full_ranking(scores, np.array([0]), [np.array([], dtype=np.int64)])
    assert hit.tolist() == [0.0]


def test_hand_computed_sampled():
    scores = np.array([[0.0, 1.0, 2.0, 3.0, 4.0],
                       [5.0, 1.0, 2.0, 3.0, 4.0]])
    negatives = np.array([[1, 2, 3], [1, 2, 3]])
    hit, ndcg = metrics.sampled(scores, np.array([4, 1]), negatives, k=2)
    # user 0: target 4 beats all -> rank 0; user 1: target 1 is beaten by 2 and 3 -> rank 2.
    assert hit.tolist() == [1.0, 0.0]
    assert ndcg.tolist() == [1.0, 0.0]


@given(st.lists(st.integers(0, 40), min_size=1, max_size=50))
def test_hit_and_ndcg_laws(ranks):
    hit, ndcg = metrics.hit_ndcg(np.array(ranks), k=10)
    assert np.all((ndcg <= hit) & (ndcg >= 0))
    assert np.all((ndcg > 0) == (hit == 1))
    assert np.all(ndcg[np.array(ranks) == 0] == 1.0)


def test_eval_negatives_avoid_known_items():
    known = UserItems.from_pairs(np.array([0, 0, 1]), np.array([0, 1, 2]), 2, 12)
    neg = metrics.sample_eval_negatives(known, np.array([0, 1]), 5, np.random.default_rng(0))
    assert neg.shape == (2, 5)
    assert not set(neg[0]) & {0, 1} and 2 not in neg[1]
    assert all(len(set(row)) == 5 for row in neg)
    with pytest.raises(Exception, match="unseen"):
        metrics.sample_eval_negatives(known, np.array([0]), 11, np.random.default_rng(0))


def test_matches_ranx():
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(7)
    n_users, n_items = 40, 60
    scores = rng.normal(size=(n_users, n_items))
    targets = rng.integers(0, n_items, n_users)
    exclude = []
    for u in range(n_users):
        ex = rng.choice(n_items, 8, replace=False)
        exclude.append(ex[ex != targets[u]])
    hit, ndcg = metrics.full_ranking(scores, targets, exclude, k=10)
    negatives = np.array([rng.choice(np.setdiff1d(np.arange(n_items), [t]), 20, replace=False) for t in targets])
    s_hit, s_ndcg = metrics.sampled(scores, targets, negatives, k=10)
    qrels = ranx.Qrels({f"u{u}": {f"i{targets[u]}": 1} for u in range(n_users)})
    full_run, sampled_run = {}, {}
    for u in range(n_users):
        keep = np.setdiff1d(np.arange(n_items), exclude[u])
        full_run[f"u{u}"] = {f"i{i}": float(scores[u, i]) for i in keep}
        cand = np.concatenate([[targets[u]], negatives[u]])
        sampled_run[f"u{u}"] = {f"i{i}": float(scores[u, i]) for i in cand}
    names = ["hit_rate@10", "ndcg@10"]
    full = ranx.evaluate(qrels, ranx.Run(full_run), names)
    samp = ranx.evaluate(qrels, ranx.Run(sampled_run), names)
    assert hit.mean() == pytest.approx(full["hit_rate@10"])
    assert ndcg.mean() == pytest.approx(full["ndcg@10"])
    assert s_hit.mean() == pytest.approx(samp["hit_rate@10"])
    assert s_ndcg.mean() == pytest.approx(samp["ndcg@10"])
