"""Parameter choice: batching primes, no-wrap plain modulus, noise budget, CKKS headroom."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import ConfigError
from secagg.he.params import (
    BFVParameters,
    choose_bfv_parameters,
    choose_ckks_parameters,
)
from secagg.he.primes import batching_prime_above, is_prime


def test_is_prime_matches_trial_division():
    def slow(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))
    assert [n for n in range(3000) if is_prime(n)] == [n for n in range(3000) if slow(n)]
    assert is_prime(2**61 - 1) and not is_prime(2**61 + 1)
    assert not is_prime(3215031751)  # strong pseudoprime to bases 2, 3, 5, 7


@given(st.integers(1, 2**50), st.sampled_from([4096, 8192]))
def test_batching_prime_is_the_smallest_above_the_bound(bound, n):
    t = batching_prime_above(bound, n)
    assert t > bound and t % (2 * n) == 1 and is_prime(t)
    assert not any(is_prime(c) for c in range(t - 2 * n, bound, -2 * n))


@given(st.integers(1, 5000), st.integers(2, 2**24))
def test_plain_modulus_cannot_wrap(max_clients, levels):
    p = choose_bfv_parameters(quantization_range=levels, max_clients=max_clients)
    assert isinstance(p, BFVParameters)
    assert p.plain_modulus > max_clients * (levels - 1)
    assert p.plain_modulus % (2 * p.poly_modulus_degree) == 1
    assert p.data_bits - p.plain_modulus.bit_length() - 9 >= p.required_budget_bits


def test_small_settings_use_the_cheapest_ring_and_large_ones_a_bigger_one():
    assert choose_bfv_parameters().poly_modulus_degree == 4096
    big = choose_bfv_parameters(quantization_range=2**32, max_clients=2**16)
    assert big.poly_modulus_degree == 8192


def test_settings_that_would_wrap_are_refused():
    with pytest.raises(ConfigError, match="quantization_range"):
        choose_bfv_parameters(quantization_range=2**50, max_clients=2**20)
    with pytest.raises(ConfigError, match="larger ring"):
        choose_bfv_parameters(quantization_range=2**40, max_clients=2**10,
                              poly_modulus_degree=4096, coeff_mod_bit_sizes=(60, 49))


@pytest.mark.parametrize("kwargs", [
    {"max_clients": 0}, {"max_clients": 2.0}, {"clipping_range": -1.0},
    {"quantization_range": 1}, {"poly_modulus_degree": 4096},
    {"poly_modulus_degree": 1000, "coeff_mod_bit_sizes": (60, 49)},
    {"poly_modulus_degree": 4096, "coeff_mod_bit_sizes": (60, 60)},
])
def test_bad_bfv_settings(kwargs):
    with pytest.raises(ConfigError):
        choose_bfv_parameters(**kwargs)


def test_ckks_headroom_is_checked():
    choose_ckks_parameters(clipping_range=1.0, max_clients=2**10)
    with pytest.raises(ConfigError, match="exceeds"):
        choose_ckks_parameters(clipping_range=1000.0, max_clients=2**10)
    with pytest.raises(ConfigError):
        choose_ckks_parameters(scale_bits=10)


def test_ckks_error_bound_is_linear_in_clients():
    p = choose_ckks_parameters()
    assert p.error_bound(10) == pytest.approx(10 * p.error_bound(1))
    assert 0 < p.error_bound(1) < 1e-6  # scale 2**40, N = 4096
