"""The BPR step is gradient ascent on the regularised BPR objective; negatives avoid positives."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import ConfigError, ShapeError
from secagg.rec.model import ItemModel, bpr_step, sample_negatives


def objective(P, model, u, i, j, reg):
    x = np.einsum("nk,nk->n", P[u], model.factors[i] - model.factors[j]) + model.biases[i] - model.biases[j]
    ll = np.sum(np.log(1 / (1 + np.exp(-x))))
    penalty = 0.5 * reg * (np.sum(P[u] ** 2) + np.sum(model.factors[i] ** 2) + np.sum(model.factors[j] ** 2)
                           + np.sum(model.biases[i] ** 2) + np.sum(model.biases[j] ** 2))
    return ll - penalty


def test_bpr_step_follows_the_gradient():
    rng = np.random.default_rng(0)
    P = rng.normal(0, 0.5, (3, 4))
    model = ItemModel(rng.normal(0, 0.5, (6, 4)), rng.normal(0, 0.1, 6))
    u, i, j = np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([3, 4, 5])  # distinct rows: exact gradient
    lr, reg = 1e-3, 0.01
    P2, m2 = P.copy(), model.copy()
    bpr_step(P2, m2, u, i, j, lr=lr, reg=reg)
    eps = 1e-6
    for arr, new in ((P, P2), (model.factors, m2.factors), (model.biases, m2.biases)):
        grad = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = objective(P, model, u, i, j, reg)
            arr[idx] = old - eps
            down = objective(P, model, u, i, j, reg)
            arr[idx] = old
            grad[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose((new - arr) / lr, grad, rtol=1e-4, atol=1e-6)


def test_steps_increase_the_likelihood():
    rng = np.random.default_rng(1)
    P = rng.normal(0, 0.1, (1, 8)).astype(np.float32)
    model = ItemModel.initial(30, 8, rng)
    i, j = np.arange(10), np.arange(10, 20)
    u = np.zeros(10, dtype=np.int64)
    first = bpr_step(P, model, u, i, j, lr=0.1, reg=0.0)
    for _ in range(50):
        last = bpr_step(P, model, u, i, j, lr=0.1, reg=0.0)
    assert last > first


def test_user_only_step_leaves_items_alone():
    rng = np.random.default_rng(2)
    P = rng.normal(size=(1, 4)).astype(np.float32)
    model = ItemModel.initial(8, 4, rng)
    before = model.copy()
    bpr_step(P, model, np.zeros(2, np.int64), np.array([0, 1]), np.array([2, 3]), lr=0.1, reg=0.1,
             update_items=False)
    np.testing.assert_array_equal(model.factors, before.factors)


def test_vector_roundtrip_and_shape_check():
    model = ItemModel.initial(5, 3, np.random.default_rng(0))
    vec = model.to_vector()
    assert vec.shape == (model.size,) == (20,)
    model.add_vector(np.ones(20))
    np.testing.assert_allclose(model.to_vector(), vec + 1, rtol=1e-6)
    with pytest.raises(ShapeError):
        model.add_vector(np.ones(19))


def test_sample_negatives_excludes_forbidden():
    rng = np.random.default_rng(3)
    forbidden = np.arange(0, 50, 2)
    neg = sample_negatives(rng, 1000, 50, forbidden)
    assert not np.isin(neg, forbidden).any() and neg.min() >= 0 and neg.max() < 50
    dense = np.arange(49)
    assert set(sample_negatives(rng, 20, 50, dense)) == {49}
    with pytest.raises(ConfigError):
        sample_negatives(rng, 3, 5, np.arange(5))
