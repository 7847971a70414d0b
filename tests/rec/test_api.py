"""The implicit-style API, one shared set of checks over both model variants."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import CheckpointError, ConfigError, InputError
from secagg.rec import CentralizedMF, FederatedMF, UserItems


def federated():
    return FederatedMF(factors=6, rounds=4, clients_per_round=30, local_epochs=2, random_state=1)


def centralized():
    return CentralizedMF(factors=6, iterations=3, random_state=1)


@pytest.fixture(params=[federated, centralized], ids=["federated", "centralized"])
def fitted(request, small_split):
    return request.param().fit(small_split.train, show_progress=False), small_split.train


def test_recommend_filters_liked_items_and_sorts(fitted):
    model, train = fitted
    ids, scores = model.recommend(0, N=10)
    assert len(ids) == 10 and len(set(ids)) == 10
    assert not set(ids) & set(train.items_of(0))
    assert np.all(np.diff(scores) <= 0)
    unfiltered, _ = model.recommend(0, N=train.n_items, filter_already_liked_items=False)
    assert len(unfiltered) == train.n_items


def test_recommend_many_users_and_bad_input(fitted):
    model, _ = fitted
    ids, scores = model.recommend(np.array([0, 1, 2]), N=5)
    assert ids.shape == scores.shape == (3, 5)
    with pytest.raises(InputError):
        model.recommend(10_000)
    with pytest.raises(InputError):
        model.recommend(1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        model.recommend(0, N=0)


def test_similar_items_starts_with_itself(fitted):
    model, _ = fitted
    ids, sims = model.similar_items(3, N=4)
    assert ids[0] == 3 and sims[0] == pytest.approx(1.0)


def test_save_load_roundtrip(fitted, tmp_path):
    model, _ = fitted
    path = model.save(tmp_path / "model.npz")
    loaded = type(model).load(path)
    for user in (0, 5, 17):
        a, sa = model.recommend(user, N=8)
        b, sb = loaded.recommend(user, N=8)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(sa, sb)
    other = CentralizedMF if isinstance(model, FederatedMF) else FederatedMF
    with pytest.raises(CheckpointError, match="not a"):
        other.load(path)


def test_scipy_sparse_input(small_split):
    sp = pytest.importorskip("scipy.sparse")
    train = small_split.train
    matrix = sp.csr_matrix((np.ones(train.nnz), train.indices, train.indptr), shape=(train.n_users, train.n_items))
    model = CentralizedMF(factors=4, iterations=1).fit(matrix, show_progress=False)
    ids, _ = model.recommend(2, N=3)
    assert not set(ids) & set(train.items_of(2))


def test_unfitted_model_says_so():
    with pytest.raises(ConfigError, match="fit"):
        FederatedMF().recommend(0)


def test_user_items_row_is_also_filtered(small_split):
    model = CentralizedMF(factors=4, iterations=1).fit(small_split.train, show_progress=False)
    top, _ = model.recommend(3, N=1)
    extra = UserItems.from_pairs(np.array([0]), top, 1, small_split.n_items)  # a one-row matrix
    again, _ = model.recommend(3, extra, N=1)
    assert again[0] != top[0]


def test_federated_mf_refuses_an_unknown_backend_before_any_work():
    with pytest.raises(ConfigError, match="'inprocess', 'ray'"):
        FederatedMF(aggregator="secagg+", backend="rya")
    with pytest.raises(ConfigError, match="did you mean 'address'"):
        FederatedMF(aggregator="secagg+", backend="ray", backend_options={"adres": "auto"})
