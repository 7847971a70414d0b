"""Graphs (complete, randomly permuted Harary) and the SecAgg+ parameter finder."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import hypergeom

from secagg.errors import ConfigError
from secagg.protocol.graphs import CompleteGraph, HararyGraph
from secagg.protocol.params import (
    check_harary_degree,
    complete_threshold,
    find_parameters,
    lower_tail_limit,
    upper_tail_quantile,
)


@given(n=st.integers(4, 80), half=st.integers(1, 20), seed=st.binary(min_size=32, max_size=32))
def test_harary_graph_is_symmetric_and_regular(n, half, seed):
    k = 2 * half
    if k >= n - 1:
        with pytest.raises(ConfigError):
            HararyGraph(range(n), k, seed)
        return
    g = HararyGraph(range(100, 100 + n), k, seed)
    for c in g.client_ids:
        nb = g.neighbors(c)
        assert len(nb) == k and c not in nb
        assert all(c in g.neighbors(o) for o in nb)
        assert g.group(c) == nb | {c}
    assert HararyGraph(range(100, 100 + n), k, seed).order == g.order  # deterministic


def test_harary_labels_are_permuted_by_the_seed():
    a = HararyGraph(range(50), 4, os.urandom(32))
    b = HararyGraph(range(50), 4, os.urandom(32))
    assert a.order != b.order and sorted(a.order) == list(range(50))


def test_complete_graph():
    g = CompleteGraph([3, 1, 2])
    assert g.neighbors(1) == {2, 3} and g.group(1) == {1, 2, 3} and g.degree == 2


@given(total=st.integers(2, 300), data=st.data(), bits=st.sampled_from([0, 5, 20, 41]))
def test_tail_bounds_match_scipy(total, data, bits):
    marked = data.draw(st.integers(0, total))
    draws = data.draw(st.integers(0, total))
    eps = 2.0**-bits / total
    rv = hypergeom(total, marked, draws)
    t1 = upper_tail_quantile(total, marked, draws, bits)
    assert rv.sf(t1) <= eps * (1 + 1e-9)
    assert t1 == 0 or rv.sf(t1 - 1) > eps * (1 - 1e-9)
    t2 = lower_tail_limit(total, marked, draws, bits)
    assert t2 == 0 or rv.cdf(t2 - 1) <= eps * (1 + 1e-9)
    assert rv.cdf(t2) > eps * (1 - 1e-9) or t2 > draws


@pytest.mark.parametrize("model", ["honest-but-curious", "active"])
def test_found_parameters_satisfy_the_bounds(model):
    for n in (100, 1000):
        p = find_parameters(n, corrupt_fraction=0.05, dropout_fraction=0.1, threat_model=model)
        assert p.kind == "harary"
        k, t = p.degree, p.threshold
        corrupt = hypergeom(n, math.floor(0.05 * n), k)
        survivors = hypergeom(n, math.ceil(0.9 * n), k)
        t1 = t - 1 if model == "honest-but-curious" else 2 * t - k - 1
        assert corrupt.sf(t1) <= 2.0**-41 / n          # no honest secret leaks
        assert survivors.cdf(t - 1) <= 2.0**-20 / n    # every secret can be rebuilt
        if k > 2:                                      # the smallest feasible degree
            assert check_harary_degree(n, k - 2, 0.05, 0.1, model) is None


def test_known_ranges_from_the_paper():
    """Bell et al. 2020: k grows polylogarithmically - tens of neighbours for thousands of clients."""
    for n in (1000, 5000, 10000, 100000):
        p = find_parameters(n, corrupt_fraction=0.05, dropout_fraction=0.1)
        assert 20 <= p.degree <= 100 and 2 <= p.threshold <= p.degree
    for n in (1000, 10000):
        p = find_parameters(n, corrupt_fraction=0.2, dropout_fraction=0.2, threat_model="active")
        assert 200 <= p.degree <= 600 and p.threshold > p.degree / 2


def test_monotone_in_dropouts_corruption_and_threat():
    n = 1000
    ks = [find_parameters(n, dropout_fraction=d).degree for d in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert ks == sorted(ks)
    ks = [find_parameters(n, corrupt_fraction=g).degree for g in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert ks == sorted(ks)
    assert (find_parameters(n, threat_model="active").degree
            >= find_parameters(n, threat_model="honest-but-curious").degree)
    degrees = [find_parameters(n).degree for n in (100, 1000, 10000, 100000)]
    assert degrees == sorted(degrees) and degrees[-1] < 2 * degrees[1]


def test_small_cohorts_fall_back_to_the_complete_graph():
    for n in (2, 3):
        assert find_parameters(n).kind == "complete"
    assert find_parameters(20, complete=True).kind == "complete"


def test_overrides_and_validation():
    p = find_parameters(1000, num_neighbors=50, threshold=30)
    assert (p.kind, p.degree, p.threshold) == ("harary", 50, 30)
    with pytest.raises(ConfigError):
        find_parameters(1000, num_neighbors=51)
    with pytest.raises(ConfigError):
        find_parameters(100, threshold=0)
    with pytest.raises(ConfigError):
        find_parameters(100, corrupt_fraction=1.5)
    with pytest.raises(ConfigError):
        find_parameters(100, corrupt_fraction=0.5, dropout_fraction=0.5)
    with pytest.raises(ConfigError):
        find_parameters(1)
    assert complete_threshold(10, 0.0, "honest-but-curious") == 2
    assert complete_threshold(10, 0.2, "active") == 7
