"""Shared fixtures for the recommender tests: small synthetic data and the optional ML-100K copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from secagg.rec.datasets import locate_ml100k
from secagg.rec.evaluation import make_eval_set
from secagg.rec.split import leave_one_out
from secagg.rec.synthetic import make_synthetic

REPO = Path(__file__).resolve().parents[2]


def ml100k_dir() -> Path | None:
    """``$SECAGG_ML100K``, ``<repo>/../shared/data/ml-100k`` or the download cache, when it holds u.data."""
    return locate_ml100k(REPO / ".." / "shared" / "data" / "ml-100k")


@pytest.fixture(scope="session")
def ml100k() -> Path:
    found = ml100k_dir()
    if found is None:
        pytest.skip("MovieLens 100K not found: set SECAGG_ML100K or place it at <repo>/../shared/data/ml-100k "
                    "(it is never copied into the repository)")
    return found


@pytest.fixture(scope="session")
def small_data():
    return make_synthetic(n_users=120, n_items=80, factors=4, mean_interactions=15, seed=3)


@pytest.fixture(scope="session")
def small_split(small_data):
    return leave_one_out(small_data)


@pytest.fixture(scope="session")
def small_eval(small_split):
    return make_eval_set(small_split, n_negatives=30, seed=1)
